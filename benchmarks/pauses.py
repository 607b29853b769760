"""English speech in phrases with pauses (dictation): does the whisper engine invent words?

    python benchmarks/pauses.py [--pause 1.5]

The fixture joins the LibriVox clips, "go forward ten meters" and JFK's "ask not" with pauses
(97 words). Prints, for the stream at real time and at full speed: WER, words outside the
speech (a word's middle more than 0.3 s from every clip), zero-length words, and commit latency
(a word's end in the audio → the first final that holds it, wall clock, real time only); and the
WER of the same model decoding the whole file at once with beam 5, the bar to meet.

Each stream runs twice in the same run: with the encoder's input fitted to the window (the engine's
CONTEXT_PAD / CONTEXT_FLOOR) and with the whole 30 s Whisper was trained on ("full context", before).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook import Final, Session, audio  # noqa: E402
from stt_notebook.engines import whisper  # noqa: E402
from tests.support import PAUSE_CLIPS, corpus_wer, pause_spans, whole_file_beam5, with_pauses  # noqa: E402


async def stream(pcm: bytes, realtime: bool) -> tuple[list[Final], list[float]]:
    session = Session("en", engine="whisper")
    await session.start()
    arrivals: list[tuple[float, Final]] = []
    session.subscribe(lambda e: arrivals.append((time.perf_counter(), e)) if isinstance(e, Final) else None)
    t0 = time.perf_counter()
    await session.run(pcm, realtime=realtime, frame_ms=100)
    lags = [t - (t0 + w.end) for t, f in arrivals for w in f.words] if realtime else []
    return [f for _, f in arrivals], lags


def measure(pcm: bytes, reference: str, spans: list[tuple[float, float]], realtime: bool) -> str:
    finals, lags = asyncio.run(stream(pcm, realtime))
    words = [w for f in finals for w in f.words]
    outside = [w.text for w in words
               if all(abs((w.start + w.end) / 2 - np.clip((w.start + w.end) / 2, a, b)) > 0.3 for a, b in spans)]
    zero = [w.text for w in words if w.end - w.start <= 0.0]
    text = " ".join(w.display for w in words)
    line = (f"stream {'at real time' if realtime else 'at full speed'}: WER {corpus_wer([reference], [text]):.3f}, "
            f"{len(outside)} words outside speech {outside}, {len(zero)} zero-length")
    if lags:
        line += f", commit p50 {np.percentile(lags, 50):.2f} s / p95 {np.percentile(lags, 95):.2f} s"
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pause", type=float, default=1.5)
    args = parser.parse_args()
    pcm, reference = with_pauses(PAUSE_CLIPS, args.pause)
    spans = pause_spans(PAUSE_CLIPS, args.pause)
    print(f"{len(reference.split())} words in {len(PAUSE_CLIPS)} phrases, {args.pause:g} s pauses, "
          f"{audio.duration(pcm):.1f} s of audio")
    lines = []
    fitted = whisper.CONTEXT_FLOOR
    for floor, context in ((3000, "full context (before)"), (fitted, "fitted context")):
        whisper.CONTEXT_FLOOR = floor
        lines += [f"  {context}, {measure(pcm, reference, spans, realtime)}" for realtime in (True, False)]
    # the bar last: a decode on this thread first measurably slows the live stream's decodes after it
    print(f"  whole file, beam 5 (the bar): WER {corpus_wer([reference], [whole_file_beam5(pcm)]):.3f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
