"""Does the input level decide what is recognized? CER/WER by level, with the level stage off
(before) and on (after), for both offline engines; and what the stage costs.

    python benchmarks/levels.py [--quick]

Korean: the five Zeroth clips 104_003_0019 … 0294 and the quiet FLEURS clip (peak -34 dBFS, as
recorded). English: five LibriSpeech clips. Each clip is scaled (0, -20, -30, -40 dB), requantized
to PCM16 as a quiet recording would be, and streamed at full speed. Also: the clips boosted by
20 dB until they clip, and with steady noise added (SNR 15 dB). Every row runs in this process,
so before and after share the machine's load.
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

from stt_notebook import Session, audio  # noqa: E402
from stt_notebook.engines.vosk import VoskEngine  # noqa: E402
from stt_notebook.engines.whisper import WhisperEngine  # noqa: E402
from stt_notebook.level import LevelStage  # noqa: E402
from tests.support import DATA, EN_CLIPS, KO_CLIPS, corpus_cer, corpus_wer  # noqa: E402

FLEURS = DATA / "ko_quiet" / "fleurs_ko_kr_test_row16.wav"
FLEURS_REF = (DATA / "ko_quiet" / "transcripts.tsv").read_text("utf-8").split("\t")[1].strip()


def scaled(x: np.ndarray, db: float) -> bytes:
    return audio.float_to_pcm16(x * 10 ** (db / 20))


def noisy(x: np.ndarray, snr_db: float = 15.0, seed: int = 7) -> bytes:
    speech = float(np.sqrt(np.mean(x ** 2)))
    noise = np.random.default_rng(seed).normal(0, 1, len(x)).astype(np.float32)
    return audio.float_to_pcm16(x + noise * speech / 10 ** (snr_db / 20))


async def text_of(pcm: bytes, language: str, stage: bool) -> str:
    """Both engines measured with and without the stage, whichever way each one ships."""
    (VoskEngine if language == "ko" else WhisperEngine).auto_gain = stage
    session = Session(language, engine="auto", interim_results=False)
    return (await session.run(pcm)).text


async def score(clips: list[tuple[np.ndarray, str]], language: str, make, stage: bool) -> float:
    hyps = [await text_of(make(x), language, stage) for x, _ in clips]
    refs = [ref for _, ref in clips]
    return corpus_cer(refs, hyps) if language == "ko" else corpus_wer(refs, hyps)


def stage_cost(x: np.ndarray, frame_ms: int = 20) -> float:
    """Milliseconds of CPU per second of audio, fed in live-sized frames (quiet input: gain applied)."""
    pcm = scaled(x, -30)
    frames = list(audio.frames(pcm, frame_ms))
    stage = LevelStage()
    started = time.process_time()
    for frame in frames:
        stage(frame)
    return (time.process_time() - started) * 1000 / audio.duration(pcm)


async def main(quick: bool) -> None:
    ko = [(audio.load_audio(p), ref) for p, ref in KO_CLIPS[:5]]
    en = [(audio.load_audio(p), ref) for p, ref in EN_CLIPS[:5]]
    fleurs = [(audio.load_audio(FLEURS), FLEURS_REF)]
    levels = (0, -30) if quick else (0, -20, -30, -40)
    rows = [(f"{db:+d} dB", lambda x, db=db: scaled(x, db)) for db in levels]
    rows += [("clipped (+20 dB)", lambda x: scaled(x, 20)), ("noise (SNR 15 dB)", noisy)]
    print(f"{'input':<20}{'':>4}{'ko CER before':>15}{'after':>8}{'en WER before':>16}{'after':>8}")
    for name, make in rows:
        ko_off, ko_on = await score(ko, "ko", make, False), await score(ko, "ko", make, True)
        en_off, en_on = await score(en, "en", make, False), await score(en, "en", make, True)
        print(f"{name:<20}{'':>4}{ko_off:>15.3f}{ko_on:>8.3f}{en_off:>16.3f}{en_on:>8.3f}", flush=True)
    off, on = await score(fleurs, "ko", audio.float_to_pcm16, False), await score(fleurs, "ko", audio.float_to_pcm16, True)
    print(f"{'FLEURS as recorded':<20}{'':>4}{off:>15.3f}{on:>8.3f}")
    print(f"\nlevel stage: {stage_cost(np.concatenate([x for x, _ in ko])):.2f} ms CPU per second of audio "
          "(20 ms frames; the stage adds no latency: no look-ahead)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="only 0 and -30 dB")
    asyncio.run(main(parser.parse_args().quick))
