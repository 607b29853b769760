"""Does word confidence tell right words from wrong ones? AUROC per engine, and what the text
stage costs per final.

    python benchmarks/confidence.py [--stage]

Each clip is streamed at full speed; every output word is marked right or wrong by aligning the
hypothesis with the reference (Korean: by characters, spaces and punctuation removed, a word is
right when all its characters align to equal ones; English: by normalised words). AUROC is the
chance that a random right word has a higher confidence than a random wrong one (0.5: no
information). What made Vosk's confidence mean something was its lattice: the Korean model keeps
alternatives within 2.0 of the best path, too few, so most words sat at 1.0 (AUROC 0.80); the
engine reads the model with --lattice-beam=8. Both are printed, the model's own first.
Three calibrations were measured and not kept: the stability of each token across the partial
results (0.810 → 0.811), agreement among Vosk's N-best alternatives (0.61–0.78), and Kiwi's
score of each eojeol as written Korean (+0.01 at best, within the noise).
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
from stt_notebook import text as text_stage  # noqa: E402
from stt_notebook.engines import capabilities  # noqa: E402
from stt_notebook.engines import vosk as vosk_engine  # noqa: E402
from stt_notebook.events import Event  # noqa: E402
from stt_notebook.text import korean  # noqa: E402
from tests.support import EN_CLIPS, KO_CLIPS, auroc, english_right, korean_right  # noqa: E402


async def words_of(engine: str, language: str, path: Path) -> list:
    t = await Session(language, engine=engine).run(audio.load_pcm16(path))
    return [w for f in t.finals for w in f.words]


def live_events(path: Path) -> list[Event]:
    """The Korean engine's own events for a clip fed as a live stream feeds it, 0.2 s at a time."""
    from stt_notebook import StreamConfig
    from stt_notebook.engines import get_engine

    async def run() -> list[Event]:
        stream = get_engine("vosk").stream(StreamConfig(language="ko"))
        pcm, step = audio.load_pcm16(path), 6400
        events = [e for i in range(0, len(pcm), step) for e in stream._accept(pcm[i:i + step])]
        events += stream._flush(True)
        await stream.close()
        return events

    return asyncio.run(run())


def stage_cost(streams: list[list[Event]], rounds: int = 5) -> tuple[list[float], list[float]]:
    """Milliseconds the text stage adds per Korean final: live (after the interims that led to it:
    a final that repeats its last interim is spaced already) and cold (nothing seen before it)."""
    from stt_notebook import StreamConfig

    spacer = korean.Spacer.shared()
    live, cold = [], []
    for _ in range(rounds):
        for events in streams:
            stage = text_stage.TextStage(StreamConfig(language="ko"), "vosk", capabilities("vosk"))
            spacer._recent.clear()
            for event in events:
                t = time.perf_counter()
                stage.apply(event)
                if isinstance(event, Final):
                    live.append((time.perf_counter() - t) * 1000)
            for final in (e for e in events if isinstance(e, Final)):
                spacer._recent.clear()
                t = time.perf_counter()
                stage.apply(final)
                cold.append((time.perf_counter() - t) * 1000)
    return live, cold


def judged(engine: str, language: str, clips, judge) -> tuple[list[float], list[bool], float]:
    """Every word's confidence, whether it is right, and the CPU seconds per audio second."""
    scores, right, cpu, seconds = [], [], 0.0, 0.0
    for path, reference in clips:
        t = time.process_time()
        words = asyncio.run(words_of(engine, language, path))
        cpu += time.process_time() - t
        seconds += audio.duration(audio.load_pcm16(path))
        right += judge([w.text for w in words], reference)
        scores += [w.confidence for w in words]
    return scores, right, cpu / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stage", action="store_true", help="print only the text stage's cost")
    runs = [(f"vosk (ko), --lattice-beam={beam:g}{' (the model’s own)' if beam == 2.0 else ''}", beam, "vosk", "ko",
             KO_CLIPS, korean_right) for beam in (2.0, vosk_engine.LATTICE_BEAM)]
    runs.append(("whisper (en)", vosk_engine.LATTICE_BEAM, "whisper", "en", EN_CLIPS, english_right))
    for label, beam, engine, language, clips, judge in [] if parser.parse_args().stage else runs:
        vosk_engine.LATTICE_BEAM = beam
        asyncio.run(words_of(engine, language, clips[0][0]))  # loads the model: not counted as CPU per clip
        scores, right, cpu = judged(engine, language, clips, judge)
        print(f"{label}, {len(clips)} clips, {len(right)} words, {right.count(False)} wrong: "
              f"AUROC {auroc(scores, right):.3f}; words at 1.0: {np.mean(np.asarray(scores) >= 1.0):.0%}; "
              f"wrong words at >= 0.9: {np.mean([c >= 0.9 for c, r in zip(scores, right) if not r]):.1%}; "
              f"CPU {cpu:.3f} s per audio s")
    # the text stage's own cost per final, on the Korean engine's raw events (the heaviest: numerals + spacing)
    live, cold = stage_cost([live_events(path) for path, _ in KO_CLIPS])
    for label, costs in (("in a live stream", live), ("cold (its text never seen)", cold)):
        print(f"text stage per Korean final, {label}: p50 {np.percentile(costs, 50):.2f} ms, "
              f"p99 {np.percentile(costs, 99):.2f} ms ({len(costs)} finals)")


if __name__ == "__main__":
    main()
