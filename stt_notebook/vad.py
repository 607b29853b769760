"""Speech probability per 32 ms block: silero, the VAD faster-whisper ships (level-blind), one
model per process for the level stage and the Whisper engine."""

from __future__ import annotations

import numpy as np

from . import loaded

BLOCK = 512  # samples: 32 ms, silero's block at 16 kHz


def _model():
    from faster_whisper.vad import get_vad_model

    return loaded.shared("silero-vad", get_vad_model)


class SpeechProbability:
    """``judge(blocks)``: silero's probability for each whole block of a stream, each judged after
    up to ``history`` blocks before it. faster-whisper's silero starts from a fresh state on every
    call, so the blocks before go in again: with a fixed history every chunking of the same
    samples gets the same numbers (the level stage's one block); a longer history judges a live
    stream's 100 ms frames nearly as a whole file's are (Whisper's 1.5 s)."""

    def __init__(self, history: int = 1):
        self._model = _model()
        self._history = history * BLOCK
        self._context = np.zeros(BLOCK, np.float32)  # the blocks before, starting from one of silence

    def judge(self, blocks: np.ndarray) -> np.ndarray:
        if not len(blocks):
            return np.zeros(0, np.float32)
        assert len(blocks) % BLOCK == 0, "whole blocks only"
        audio = np.concatenate([self._context, blocks])
        probabilities = np.asarray(self._model(audio)).reshape(-1)[len(self._context) // BLOCK:]
        self._context = audio[-self._history:].copy()
        return probabilities
