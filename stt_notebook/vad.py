"""Speech probability per 32 ms block: silero, the VAD faster-whisper ships (level-blind), one
model per process for the level stage and the Whisper engine."""

from __future__ import annotations

import numpy as np

from . import loaded
from .config import SAMPLE_RATE

BLOCK = 512  # samples: 32 ms, silero's block at 16 kHz


def load():
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
        self._model = load()
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


class Segmenter:
    """Where speech starts and ends in a stream: ``feed(x)`` → ``(index in x, "start"|"end", stream
    seconds)`` for float samples at 16 kHz, judged by :class:`SpeechProbability`. Speech starts at a
    block at least ``on`` likely and ends ``endpoint`` seconds after the last block over ``off`` (the
    end's time is where that silence began). Synchronous, no I/O: the Whisper engine's utterances."""

    def __init__(self, endpoint: float, on: float = 0.5, off: float = 0.35, history: int = 47, batch: int = 4):
        self.endpoint, self.on, self.off = endpoint, on, off
        self.vad = SpeechProbability(history=history, batch=batch)
        self.in_speech = False
        self.silence_since: float | None = None  # stream seconds: where the current pause began
        self._tail = np.zeros(0, np.float32)  # samples not yet a whole batch
        self._time = 0.0  # stream seconds at the start of _tail

    def feed(self, x: np.ndarray) -> list[tuple[int, str, float]]:
        base = len(self._tail)
        audio = np.concatenate([self._tail, x]) if base else x
        n = len(audio) // self.vad.step * self.vad.step
        out: list[tuple[int, str, float]] = []
        for i, p in enumerate(self.vad.judge(audio[:n])):
            t = self._time + i * BLOCK / SAMPLE_RATE
            index = max(0, i * BLOCK - base)
            if not self.in_speech:
                if p >= self.on:
                    self.in_speech, self.silence_since = True, None
                    out.append((index, "start", t))
            elif p < self.off:
                if self.silence_since is None:
                    self.silence_since = t
                elif t + BLOCK / SAMPLE_RATE - self.silence_since >= self.endpoint:
                    self.in_speech = False
                    out.append((index, "end", self.silence_since))
            else:
                self.silence_since = None
        self._time += n / SAMPLE_RATE
        self._tail = audio[n:].copy()
        return out

    def reset(self) -> None:
        """The stream was flushed: what comes next starts outside speech."""
        self.in_speech, self.silence_since = False, None
