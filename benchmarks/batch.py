"""Batch throughput: audio hours transcribed per wall-clock hour with 1 and 2 worker processes.

    python benchmarks/batch.py [--copies 3] [--engine vosk]

The corpus is the 10 Korean test clips, copied ``--copies`` times (~95 s of speech per copy).
Each worker first loads its model on a warm-up job (a pool keeps its workers, and each worker
keeps its model), so the figures are steady-state throughput; model loading is printed apart.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook.batch import default_executor, transcribe_file, transcribe_many  # noqa: E402

CLIPS = sorted((ROOT / "tests" / "data" / "ko").glob("*.flac"))


def warm_up(path: str, engine: str, language: str) -> float:
    """Load the model on this worker; linger so that every worker gets one warm-up job."""
    started = time.perf_counter()
    transcribe_file(path, language, engine, None, {"interim_results": False})
    loaded = time.perf_counter() - started
    time.sleep(2.0)
    return loaded


def run(workers: int, corpus: list[str], engine: str, language: str) -> tuple[float, float, float]:
    with default_executor(workers) as pool:
        loads = [f.result() for f in [pool.submit(warm_up, str(CLIPS[0]), engine, language) for _ in range(workers)]]
        started = time.perf_counter()
        result = transcribe_many(corpus, language, engine=engine, executor=pool, progress=False)
        wall = time.perf_counter() - started
    assert result.errors.empty, result.errors
    return result.files.audio_seconds.sum(), wall, max(loads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=3, help="how many times the 10 clips are repeated")
    parser.add_argument("--engine", default="vosk")
    parser.add_argument("--language", default="ko")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        corpus = []
        for copy in range(args.copies):
            for clip in CLIPS:
                target = Path(tmp) / f"{copy}_{clip.name}"
                shutil.copy(clip, target)
                corpus.append(str(target))
        rates = {}
        for workers in (1, 2):
            audio_seconds, wall, load = run(workers, corpus, args.engine, args.language)
            rates[workers] = audio_seconds / wall
            print(f"{workers} worker(s): {audio_seconds / 60:.1f} min of audio in {wall:.1f} s → "
                  f"{rates[workers]:.1f} audio hours per wall hour (first file with model load: {load:.1f} s)")
    print(f"scaling 1 → 2 workers: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
