"""Offline engines on real speech paced at real time: the figures behind the README's claims.

    python benchmarks/engines.py [--engines vosk,whisper] [--max-streams 8]

Prints per engine: the cold start (a fresh process: ``Session.start()`` while a microphone is
already sending, → the first interim; and speech start → first text), real-time factor (full
speed), interim lag (a word's end in the audio → its first appearance in an interim or final,
p50/p95), end of stream → last final, how many
concurrent real-time streams this machine holds (each stream's tail and lag p95 at most twice a
lone stream's, plus 0.5 s), and peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook import Final, Interim, Session, StreamConfig, audio  # noqa: E402
from stt_notebook.engines import get_engine  # noqa: E402

DATA = ROOT / "tests" / "data"
CLIPS = {"vosk": ("ko", sorted((DATA / "ko").glob("*.flac"))[:4]),
         "whisper": ("en", sorted((DATA / "en").glob("*.flac"))[:4])}


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


async def paced_run(engine: str, language: str, pcm: bytes) -> dict:
    """One stream at real time; wall-clock arrival of every event."""
    session = Session(language, engine=engine)
    await session.start()
    arrivals: list[tuple[float, object]] = []
    session.subscribe(lambda e: arrivals.append((time.perf_counter(), e)))
    t0 = time.perf_counter()
    await session.run(pcm, realtime=True, frame_ms=20)
    t_end_audio = t0 + audio.duration(pcm)
    finals = [(t, e) for t, e in arrivals if isinstance(e, Final)]
    lags = []
    since_final: list[tuple[float, Interim]] = []
    for t, e in arrivals:
        if isinstance(e, Interim):
            since_final.append((t, e))
        elif isinstance(e, Final):
            # word k of this final first showed when an interim since the last final had > k words
            for k, w in enumerate(e.words):
                first = next((ti for ti, i in since_final if len(i.text.split()) > k), t)
                lags.append(first - (t0 + w.end))
            since_final = []
    last_final = finals[-1][0] - t_end_audio if finals else float("nan")
    return {"lags": lags, "last_final": last_final}


async def concurrent(engine: str, language: str, pcm: bytes, n: int) -> list[dict]:
    return await asyncio.gather(*(paced_run(engine, language, pcm) for _ in range(n)))


def trim_after_speech(engine: str, language: str, pcm: bytes) -> bytes:
    """Cut the clip 0.1 s after its last word, so the last final must come from the close flush."""
    from stt_notebook.api import run_sync

    t = run_sync(Session(language, engine=engine).run(pcm))
    end = int((t.words["end"].max() + 0.1) * 16000) * 2
    return pcm[:end]


def full_speed_rtf(engine: str, language: str, pcms: list[bytes]) -> float:
    from stt_notebook.api import run_sync

    total = sum(audio.duration(p) for p in pcms)
    get_engine(engine, language).load(StreamConfig(language=language))  # the model loads outside the timing
    t = time.perf_counter()
    for pcm in pcms:
        run_sync(Session(language, engine=engine).run(pcm))
    return (time.perf_counter() - t) / total


async def cold_start_here(engine: str, language: str, clip: Path) -> dict:
    """In this (fresh) process: a microphone starts sending 1 s of silence then the clip at real
    time, and ``Session.start()`` is called at that same instant, as a widget does on the first click."""
    pcm = bytes(audio.SAMPLE_RATE * 2) + audio.load_pcm16(clip)
    onset = next(i * 0.02 for i, f in enumerate(audio.frames(pcm, 20)) if audio.level_dbfs(f) > -40)
    queue: asyncio.Queue = asyncio.Queue()
    t0 = time.perf_counter()

    async def microphone() -> None:
        for i, frame in enumerate(audio.frames(pcm, 100)):
            await asyncio.sleep(max(0.0, t0 + i * 0.1 - time.perf_counter()))
            queue.put_nowait(frame)
        queue.put_nowait(None)

    async def captured():
        while (frame := await queue.get()) is not None:
            yield frame

    session = Session(language, engine=engine)
    texts: list[float] = []
    session.subscribe(lambda e: texts.append(time.perf_counter() - t0) if isinstance(e, (Interim, Final)) and e.text else None)
    mic = asyncio.get_running_loop().create_task(microphone())
    await session.start()
    started = time.perf_counter() - t0
    await session.run(captured())
    await mic
    return {"start": started, "first_text": texts[0], "speech_to_text": texts[0] - onset}


def cold_start(engine: str, language: str, clip: Path, runs: int = 3) -> list[dict]:
    """Each run in a new Python process: imports, model load and warm-up all count."""
    out = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, __file__, "--cold-start-child", engine, language, str(clip)],
                              capture_output=True, text=True, check=True)
        out.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="vosk,whisper")
    parser.add_argument("--max-streams", type=int, default=8)
    parser.add_argument("--cold-start-child", nargs=3, metavar=("ENGINE", "LANGUAGE", "CLIP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_start_child:
        engine, language, clip = args.cold_start_child
        print(json.dumps(asyncio.run(cold_start_here(engine, language, Path(clip)))))
        return
    for engine in args.engines.split(","):
        language, paths = CLIPS[engine]
        pcms = [audio.load_pcm16(p) for p in paths]
        print(f"\n== {engine} ({language}), {len(pcms)} clips, {sum(map(audio.duration, pcms)):.1f} s ==")
        cold = cold_start(engine, language, paths[0])
        runs = ", ".join(f"{r['speech_to_text']:.2f}" for r in cold)
        print(f"cold start, fresh process (median of {len(cold)}): Session.start() returns after "
              f"{statistics.median(r['start'] for r in cold):.2f} s, first text at "
              f"{statistics.median(r['first_text'] for r in cold):.2f} s; speech start -> first text "
              f"{statistics.median(r['speech_to_text'] for r in cold):.2f} s (runs: {runs})")
        print(f"real-time factor (full speed): {full_speed_rtf(engine, language, pcms):.3f}")
        pcms = [trim_after_speech(engine, language, p) for p in pcms]
        lags, tails = [], []
        for pcm in pcms:
            r = asyncio.run(paced_run(engine, language, pcm))
            lags += r["lags"]
            tails.append(r["last_final"])
        print(f"interim lag (word end in audio -> a word in its place on screen): p50 {pct(lags, 50) * 1000:.0f} ms, "
              f"p95 {pct(lags, 95) * 1000:.0f} ms ({len(lags)} words)")
        print(f"end of stream -> last final (clips cut 0.1 s after speech): median "
              f"{statistics.median(tails) * 1000:.0f} ms, max {max(tails) * 1000:.0f} ms")
        held = 0
        n = 1
        while n <= args.max_streams:
            runs = asyncio.run(concurrent(engine, language, pcms[0], n))
            all_lags = [x for r in runs for x in r["lags"]]
            worst_tail = max(r["last_final"] for r in runs)
            p95 = pct(all_lags, 95)
            # held = the streams keep up: no worse than twice one stream's own figures, plus 0.5 s
            ok = (worst_tail <= 2 * statistics.median(tails) + 0.5 and p95 <= 2 * pct(lags, 95) + 0.5)
            print(f"  {n} concurrent real-time streams: interim lag p95 {p95 * 1000:.0f} ms, "
                  f"worst last final {worst_tail * 1000:.0f} ms -> {'held' if ok else 'NOT held'}")
            if not ok:
                break
            held = n
            n = n * 2 if n < 4 else n + 2
        print(f"concurrent real-time streams held: {held}")
        print(f"peak RSS so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
