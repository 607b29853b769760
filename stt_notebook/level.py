"""The audio front end's level stage: quiet speech brought up before the engine, and what the
person is told about their input.

Why: the Korean model hears level, not only words. Five Zeroth clips give CER 0.15 at their
recorded level and 0.29 when 30 dB quieter (a laptop microphone at arm's length).

How, in one pass over 32 ms blocks:
- speech is what silero's VAD (the one faster-whisper ships, level-blind) hears and what stands
  12 dB above a noise floor (falls at once, rises 3 dB/s): silence, steady noise and the breath
  before a sentence never set the gain (measuring only, the level test alone decides);
- a speech envelope (fast up, slow down) near the loud blocks' level sets the gain: only speech
  quieter than ``RAISE_BELOW`` is raised (normal and loud input pass bit for bit; the gain never
  attenuates), and a peak envelope keeps the raised audio under -6 dBFS, with a soft knee for the
  onset it could not foresee;
- each block's gain is decided from the blocks before it and ramped across the block, so there is
  no look-ahead (no latency) and any chunking of the same samples gives the same output: the live
  and file paths hear the same audio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from .vad import BLOCK, SpeechProbability

RAISE_BELOW = -24.0  # a speech envelope (its loud blocks) below this is raised…
SLOPE = 1.25  # …by 1.25 dB per dB under it: -46 dBFS (the quiet FLEURS clip) comes out near -18
MAX_GAIN_DB = 40.0
MIN_GAIN_DB = 1.0  # less is not worth changing the input's bits
GATE_DB = 12.0  # above the noise floor: speech
FLOOR_DBFS = -85.0  # below this nothing is speech, whatever the floor
ONSET_BLOCKS = 1
RISE_DB = 40.0
SPEECH_PROBABILITY = 0.5
PEAK_ROOM = 0.5  # raised peaks stay under -6 dBFS (Vosk loses words to clipping long before)
KNEE, CEILING = 0.85, 0.95  # a soft knee bends what the peak limit did not foresee under the ceiling
QUIET_DBFS = -36.0  # a speech envelope below this is "too quiet" (needs over 22 dB of gain)
CLIPPED = 32440 / 32768  # a sample at 99% of full scale was very likely clipped
WARN_SECONDS = 3.0  # how long the input stays quiet or clipping before the person is told

Warning = Literal["quiet", "clipping"]
ADVICE: dict[str, str] = {
    "quiet": "Your microphone is very quiet — move closer or raise its input level.",
    "clipping": "Your input is clipping (too loud) — move back or lower its input level.",
}

_SECONDS = BLOCK / 16000
_UP = 1 - math.exp(-_SECONDS / 0.05)  # the envelope rises with a 50 ms time constant…
_DOWN = 1 - math.exp(-_SECONDS / 2.5)  # …and falls with 2.5 s of speech
_FLOOR_RISE = 3.0 * _SECONDS  # dB per block
_PEAK_DECAY = math.exp(-_SECONDS / 10)  # the peak envelope forgets over ~10 s
_CLIP_DECAY = math.exp(-_SECONDS / WARN_SECONDS)


@dataclass(frozen=True)
class InputLevel:
    """What the level stage knows of the input so far: the speech envelope (None before speech),
    the gain it applies and a warning for the person (None, "quiet" or "clipping")."""

    speech_dbfs: float | None
    gain_db: float
    warning: Warning | None

    @property
    def advice(self) -> str:
        return ADVICE[self.warning] if self.warning else ""

    @property
    def quiet(self) -> bool:
        """The speech heard so far was very quiet (however long it lasted)."""
        return self.speech_dbfs is not None and self.speech_dbfs < QUIET_DBFS


class LevelStage:
    """Streaming automatic gain on PCM16 16 kHz mono: ``stage(pcm) -> pcm`` of the same length.

    ``apply=False`` measures only (the warnings still work; the audio passes unchanged). Blocking
    when applying: loads the VAD (once per process)."""

    def __init__(self, apply: bool = True):
        self.apply = apply
        self._vad = SpeechProbability(history=1) if apply else None  # a block judged after the one before
        self._block = np.zeros(BLOCK, np.float32)  # the current block's samples
        self._gain = 1.0  # at the end of the last whole block
        self._next_gain = 1.0  # where this block's ramp goes
        self._fill = 0  # samples of the current block seen
        self._floor: float | None = None
        self._envelope: float | None = None
        self._onset: list[float] = []
        self._peaks = 0.0
        self._clip_score = 0.0
        self._quiet_blocks = 0

    @property
    def level(self) -> InputLevel:
        warning: Warning | None = None
        if self._clip_score >= 5:
            warning = "clipping"
        elif self._quiet_blocks * _SECONDS >= WARN_SECONDS:
            warning = "quiet"
        envelope = None if self._envelope is None else round(self._envelope, 1)
        return InputLevel(envelope, round(20 * math.log10(self._next_gain), 1), warning)

    def __call__(self, pcm: bytes) -> bytes:
        if len(pcm) % 2 or not pcm:
            return pcm  # the engine reports a broken frame in its own words
        x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
        gains = np.empty_like(x) if self.apply else None
        i = 0
        while i < len(x):
            n = min(BLOCK - self._fill, len(x) - i)
            part = x[i:i + n]
            if gains is not None:
                position = np.arange(self._fill + 1, self._fill + n + 1, dtype=np.float32) / BLOCK
                gains[i:i + n] = self._gain + (self._next_gain - self._gain) * position
            self._block[self._fill:self._fill + n] = part
            self._fill += n
            i += n
            if self._fill == BLOCK:
                self._end_block()
        if gains is None or not (gains > 1.0).any():
            return pcm  # nothing raised: the input, bit for bit
        y = x * gains
        loud = (np.abs(y) > KNEE) & (gains > 1.0)
        if loud.any():  # a sudden onset the peak envelope did not foresee bends under full scale
            over = (np.abs(y[loud]) - KNEE) / (CEILING - KNEE)
            y[loud] = np.sign(y[loud]) * (KNEE + (CEILING - KNEE) * np.tanh(over))
        return np.clip(np.round(y * 32768.0), -32768, 32767).astype("<i2").tobytes()

    def _end_block(self) -> None:
        """Measured on the whole block at once, so every chunking gives the same numbers."""
        block = self._block
        level = 10 * math.log10(float(np.dot(block, block)) / BLOCK + 1e-12)
        magnitude = np.abs(block)
        peak, clips = float(magnitude.max()), int(np.count_nonzero(magnitude >= CLIPPED))
        if self._floor is None or level < self._floor:
            self._floor = level
        else:
            self._floor += min(level - self._floor, _FLOOR_RISE)
        if level > max(self._floor + GATE_DB, FLOOR_DBFS) and self._heard_speech():
            if self._envelope is not None:
                self._envelope += (level - self._envelope) * (_UP if level > self._envelope else _DOWN)
            else:
                self._onset.append(level)
                if len(self._onset) >= ONSET_BLOCKS:
                    self._envelope = max(self._onset)
        self._peaks = max(peak, self._peaks * _PEAK_DECAY)
        self._clip_score = self._clip_score * _CLIP_DECAY + (clips >= 2)
        quiet = self._envelope is not None and self._envelope < QUIET_DBFS
        self._quiet_blocks = self._quiet_blocks + 1 if quiet else 0
        self._gain = self._next_gain
        if self.apply and self._envelope is not None:
            wanted_db = min((RAISE_BELOW - self._envelope) * SLOPE, MAX_GAIN_DB)
            wanted = 10 ** (wanted_db / 20) if wanted_db >= MIN_GAIN_DB else 1.0
            wanted = min(wanted, max(1.0, PEAK_ROOM / self._peaks) if self._peaks else wanted)
            self._next_gain = min(wanted, self._gain * 10 ** (RISE_DB / 20))
        self._fill = 0

    def _heard_speech(self) -> bool:
        if self._vad is None:
            return True
        return bool(self._vad.judge(self._block)[0] >= SPEECH_PROBABILITY)
