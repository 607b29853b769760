"""English speech in phrases with pauses (dictation): does the whisper engine invent words?

    python benchmarks/pauses.py [--pause 1.5]

The fixture joins the LibriVox clips, "go forward ten meters" and JFK's "ask not" with pauses
(97 words). Prints, for the stream at real time and at full speed: WER, words outside the
speech (a word's middle more than 0.3 s from every clip), zero-length words, and commit latency
(a word's end in the audio → the first final that holds it, wall clock, real time only); and the
WER of the same model decoding the whole file at once with beam 5, the bar to meet.
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
from stt_notebook.engines.models import WHISPER_PACKAGES, resolve  # noqa: E402
from stt_notebook.engines.whisper import load_model  # noqa: E402
from tests.conftest import PAUSE_CLIPS, corpus_wer, with_pauses  # noqa: E402


def speech_spans(pause: float) -> list[tuple[float, float]]:
    spans, t = [], 0.0
    for path, _ in PAUSE_CLIPS:
        d = audio.duration(audio.load_pcm16(path))
        spans.append((t, t + d))
        t += d + pause
    return spans


async def stream(pcm: bytes, realtime: bool) -> tuple[list[Final], list[float]]:
    session = Session("whisper", "en")
    await session.start()
    arrivals: list[tuple[float, Final]] = []
    session.subscribe(lambda e: arrivals.append((time.perf_counter(), e)) if isinstance(e, Final) else None)
    t0 = time.perf_counter()
    await session.run(pcm, realtime=realtime, frame_ms=100)
    lags = [t - (t0 + w.end) for t, f in arrivals for w in f.words] if realtime else []
    return [f for _, f in arrivals], lags


def whole_file_beam5(pcm: bytes) -> str:
    model, _ = load_model(resolve(None, WHISPER_PACKAGES, "tiny.en", "whisper"))
    segments, _ = model.transcribe(audio.pcm16_to_float(pcm), language="en", beam_size=5, vad_filter=True)
    return " ".join(s.text for s in segments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pause", type=float, default=1.5)
    args = parser.parse_args()
    pcm, reference = with_pauses(PAUSE_CLIPS, args.pause)
    spans = speech_spans(args.pause)
    print(f"{len(reference.split())} words in {len(PAUSE_CLIPS)} phrases, {args.pause:g} s pauses, "
          f"{audio.duration(pcm):.1f} s of audio")
    lines = []
    for realtime in (True, False):
        finals, lags = asyncio.run(stream(pcm, realtime))
        words = [w for f in finals for w in f.words]
        outside = [w.text for w in words
                   if all(abs((w.start + w.end) / 2 - np.clip((w.start + w.end) / 2, a, b)) > 0.3 for a, b in spans)]
        zero = [w.text for w in words if w.end - w.start <= 0.0]
        text = " ".join(w.display for w in words)
        line = (f"  stream {'at real time' if realtime else 'at full speed'}: WER {corpus_wer([reference], [text]):.3f}, "
                f"{len(outside)} words outside speech {outside}, {len(zero)} zero-length")
        if lags:
            line += f", commit p50 {np.percentile(lags, 50):.2f} s / p95 {np.percentile(lags, 95):.2f} s"
        lines.append(line)
    # the bar last: a decode on this thread first measurably slows the live stream's decodes after it
    print(f"  whole file, beam 5 (the bar): WER {corpus_wer([reference], [whole_file_beam5(pcm)]):.3f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
