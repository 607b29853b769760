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
    """``judge(audio)``: silero's probability for each 32 ms block of a stream, the stream taken in
    batches of ``batch`` blocks (``step`` samples), each judged after up to ``history`` blocks
    before it. faster-whisper's silero starts from a fresh state on every call, so the blocks before
    go in again; with batches at fixed places in the stream every block is judged with the same
    blocks before it however the stream was cut: a file and a live stream's 100 ms frames get the
    same numbers, so the same utterances and the same words."""

    def __init__(self, history: int = 1, batch: int = 1):
        self._model = _model()
        self._history = history * BLOCK
        self.step = batch * BLOCK
        self._context = np.zeros(BLOCK, np.float32)  # the blocks before, starting from one of silence

    def judge(self, audio: np.ndarray) -> np.ndarray:
        """Probabilities of the blocks of ``audio``: whole batches only (a multiple of ``step``)."""
        assert len(audio) % self.step == 0, "whole batches only"
        out = []
        for start in range(0, len(audio), self.step):
            heard = np.concatenate([self._context, audio[start:start + self.step]])
            out.append(np.asarray(self._model(heard)).reshape(-1)[len(self._context) // BLOCK:])
            self._context = heard[-self._history:].copy()
        return np.concatenate(out) if out else np.zeros(0, np.float32)
