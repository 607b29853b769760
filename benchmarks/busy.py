"""A live Korean recording on a machine whose cores are taken by other work: when each result
comes, with CTranslate2's OpenMP threads spinning as long as they do by default and as the
package sets them (``GOMP_SPINCOUNT``), in the same run, alternating.

    python benchmarks/busy.py [--spinners 6] [--runs 2]

Each measurement is a fresh process (OpenMP reads the setting once, when it loads) that plays
an 8 s Zeroth clip at real time through ``Session``; the spinners are plain busy loops.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ONE_RECORDING = """
import asyncio, json, time
from stt_notebook import Session, audio
from stt_notebook.events import Final, Interim
from tests.support import KO_CLIPS

async def main():
    session, seen = Session("ko"), []
    session.subscribe(lambda e: seen.append((time.monotonic(), type(e))))
    await session.start()  # the model loads before the clock starts
    began = time.monotonic()
    await session.run(audio.load_pcm16(KO_CLIPS[7][0]), realtime=True)
    interims = [t - began for t, kind in seen if kind is Interim]
    finals = [t - began for t, kind in seen if kind is Final]
    print(json.dumps({"first_interim": interims[0] if interims else None, "final": finals[-1]}))

asyncio.run(main())
"""

SETTINGS = {"OpenMP's default spinning": "300000", "the package's (10k turns)": "10000"}


def measure(spincount: str) -> dict:
    env = {**os.environ, "GOMP_SPINCOUNT": spincount}
    done = subprocess.run([sys.executable, "-c", ONE_RECORDING], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spinners", type=int, default=6, help="busy processes beside the recording")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {name: [] for name in SETTINGS}
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.spinners)]
    try:
        for _ in range(args.runs):
            for name, spincount in SETTINGS.items():
                results[name].append(measure(spincount))
    finally:
        for p in spinners:
            p.kill()
    print(f"an 8.1 s Korean clip at real time beside {args.spinners} busy processes on {os.cpu_count()} cores, "
          f"{args.runs} run(s) each (seconds after the audio began)")
    for name, runs in results.items():
        finals = [r["final"] for r in runs]
        firsts = [r["first_interim"] for r in runs if r["first_interim"] is not None]
        interim = f"first interim {statistics.median(firsts):5.1f} s" if firsts else "no interim"
        print(f"  {name:28s} final {statistics.median(finals):5.1f} s (runs: {', '.join(f'{f:.1f}' for f in finals)})  {interim}")


if __name__ == "__main__":
    main()
