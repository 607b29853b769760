"""The first words of a fresh process: a new Python, audio flowing at real time from its first
moment, and the time from speech start to the first text, with where the time went.

    python benchmarks/cold_start.py [--runs 3] [--language ko] [--drop-caches] [--src CHECKOUT]

Each run is a new interpreter (nothing imported, nothing loaded); ``--drop-caches`` also empties
the page cache first (root only), so model files are read from disk as after a reboot. Speech
start is the clip's first loud 20 ms frame; the clip is sent from t=0 in 100 ms frames at real
time, as a microphone would, while the package imports and the model loads.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import asyncio, json, sys, time
t0 = time.monotonic()
from stt_notebook import Final, Interim, Session, audio, samples
from stt_notebook.engines import preload
imported = time.monotonic() - t0
language = sys.argv[1]
pcm = audio.load_pcm16(samples.path(language))
loud = next(i for i, f in enumerate(audio.frames(pcm, 20)) if audio.level_dbfs(f) > -40) * 0.02

async def main():
    session = Session(language, engine="auto", interim_results=True)
    loading = preload(session.choice) if hasattr(session, "choice") else preload(session.engine_name, language)
    marks = {"imported": imported}
    loading.add_done_callback(lambda f: marks.setdefault("model_loaded", time.monotonic() - t0))
    def seen(e):
        if isinstance(e, (Interim, Final)) and e.text and "first_text" not in marks:
            marks["first_text"] = time.monotonic() - t0
            marks["first_text_kind"] = type(e).__name__
    session.subscribe(seen)
    start = time.monotonic()
    marks["audio_from"] = start - t0
    for frame in audio.frames(pcm, 100):
        # a microphone: frames arrive at real time whether or not anyone is ready for them
        await asyncio.sleep(max(0.0, session.audio_seconds - (time.monotonic() - start)))
        await session.send(frame)
    await session.stop()
    marks["speech_at"] = marks["audio_from"] + loud
    print(json.dumps(marks))

asyncio.run(main())
"""


def drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--language", default="ko")
    parser.add_argument("--drop-caches", action="store_true", help="empty the page cache before each run (root)")
    parser.add_argument("--src", type=Path, default=ROOT, help="the checkout to run (before/after figures)")
    args = parser.parse_args()
    lags = []
    for run in range(args.runs):
        dropped = args.drop_caches and drop_caches()
        out = subprocess.run([sys.executable, "-c", CHILD, args.language], capture_output=True, text=True, cwd=args.src)
        if out.returncode:
            sys.exit(out.stderr[-2000:])
        m = json.loads(out.stdout.strip().splitlines()[-1])
        lag = m["first_text"] - m["speech_at"]
        lags.append(lag)
        print(f"run {run + 1}{' (page cache dropped)' if dropped else ''}: import {m['imported']:.2f} s, "
              f"model loaded at {m['model_loaded']:.2f} s, speech at {m['speech_at']:.2f} s, "
              f"first text ({m['first_text_kind']}) at {m['first_text']:.2f} s: {lag:.2f} s after speech started")
    print(f"{args.language}: speech start -> first text p50 {statistics.median(lags):.2f} s over {len(lags)} fresh processes "
          f"({time.strftime('%Y-%m-%d')}, {sys.platform}, {__import__('os').cpu_count()} cores)")


if __name__ == "__main__":
    main()
