"""Audio in: decode files, downmix, resample to 16 kHz, PCM16 framing, level.

soundfile (libsndfile) reads WAV/FLAC/OGG/MP3 fast; anything else goes through PyAV
(FFmpeg). Resampling uses soxr's VHQ filter. Nothing here knows about engines.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import numpy as np

from .config import SAMPLE_RATE
from .errors import AudioError, AudioFileNotFoundError, EmptyAudioError

BYTES_PER_SAMPLE = 2


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average channels; accepts (n,), (n, ch)."""
    return x if x.ndim == 1 else x.mean(axis=1, dtype=np.float32)


def resample(x: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """Band-limited resampling (soxr); float32 in, float32 out."""
    if rate == target:
        return x.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(x.astype(np.float32, copy=False), rate, target, quality="VHQ").astype(np.float32, copy=False)


def float_to_pcm16(x: np.ndarray) -> bytes:
    """Float samples in [-1, 1] → little-endian int16 bytes (clipped)."""
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def pcm16_to_float(pcm: bytes | bytearray | memoryview) -> np.ndarray:
    if len(pcm) % BYTES_PER_SAMPLE:
        raise AudioError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}.",
                         hint="Send whole 16-bit samples.")
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def array_to_pcm16(x: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """Any numpy audio (int16 or float, mono or (n, ch)) → 16 kHz mono PCM16 bytes."""
    x = np.asarray(x)
    if x.size == 0:
        raise EmptyAudioError("The audio array is empty.")
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    elif np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
    return float_to_pcm16(resample(to_mono(x.astype(np.float32, copy=False)), sample_rate))


def _read_soundfile(path: Path) -> tuple[np.ndarray, int] | None:
    import soundfile as sf

    try:
        x, rate = sf.read(str(path), dtype="float32", always_2d=False)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    return x, rate


def _read_av(path: Path) -> tuple[np.ndarray, int]:
    import av

    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise AudioError(f"{path} has no audio stream.", hint="Pass an audio file (WAV, FLAC, MP3, OGG, M4A …).")
            resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            chunks = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, UnicodeDecodeError) as e:
        raise AudioError(f"{path} is not a readable audio file ({e.__class__.__name__}).",
                         hint="Pass an audio file (WAV, FLAC, MP3, OGG, M4A …) or convert it with ffmpeg.") from e
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), SAMPLE_RATE


def load_audio(path: str | os.PathLike) -> np.ndarray:
    """Decode a file to float32 mono at 16 kHz. Raises :class:`AudioError` subclasses."""
    p = Path(path).expanduser()
    if not p.exists():
        raise AudioFileNotFoundError(f"No such audio file: {p}.", hint="Check the path.")
    if p.is_dir():
        raise AudioError(f"{p} is a folder, not an audio file.")
    if p.stat().st_size == 0:
        raise EmptyAudioError(f"{p} is empty (0 bytes).", hint="Record or choose a file with audio in it.")
    read = _read_soundfile(p) or _read_av(p)
    x, rate = read
    x = to_mono(np.asarray(x, dtype=np.float32))
    if x.size == 0:
        raise EmptyAudioError(f"{p} holds no audio samples.", hint="Record or choose a file with audio in it.")
    return resample(x, rate)


def load_pcm16(path: str | os.PathLike) -> bytes:
    return float_to_pcm16(load_audio(path))


def frames(pcm: bytes, frame_ms: int = 100, sample_rate: int = SAMPLE_RATE) -> Iterator[bytes]:
    """Split PCM16 into frames of ``frame_ms`` (the last one may be shorter)."""
    step = sample_rate * frame_ms // 1000 * BYTES_PER_SAMPLE
    view = memoryview(pcm)
    for i in range(0, len(pcm), step):
        yield bytes(view[i:i + step])


def duration(pcm: bytes, sample_rate: int = SAMPLE_RATE) -> float:
    return len(pcm) / (BYTES_PER_SAMPLE * sample_rate)


def pace_delay(sent: float, elapsed: float, speed: float = 1.0, burst: float = 0.0) -> float:
    """Seconds to wait so that ``sent`` seconds of audio run no further than ``burst`` seconds ahead
    of ``speed``× real time, ``elapsed`` seconds after the start (≤ 0: send now). The one pacing
    rule behind real-time sources, the relay's backpressure and Deepgram's speed ceiling."""
    return (sent - burst - elapsed * speed) / speed


class StreamResampler:
    """PCM16 mono chunks at ``rate`` → PCM16 at 16 kHz, keeping filter state across chunks (a live
    device or socket). ``last=True`` flushes the filter's tail, so the end of the audio is kept."""

    def __init__(self, rate: int):
        self.rate = rate
        self._soxr = None
        if rate != SAMPLE_RATE:
            import soxr

            self._soxr = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="int16")

    def __call__(self, samples: np.ndarray | bytes, last: bool = False) -> bytes:
        x = np.frombuffer(samples, "<i2") if isinstance(samples, (bytes, bytearray, memoryview)) else samples
        if self._soxr is not None:
            x = self._soxr.resample_chunk(x.astype(np.int16, copy=False), last=last)
        return x.astype("<i2", copy=False).tobytes()


def level_dbfs(pcm: bytes) -> float:
    """RMS level of a PCM16 chunk in dBFS (−inf… 0); what a level meter shows."""
    if len(pcm) < BYTES_PER_SAMPLE:
        return float("-inf")
    x = pcm16_to_float(pcm[: len(pcm) - len(pcm) % BYTES_PER_SAMPLE])
    rms = float(np.sqrt(np.mean(x * x)))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


def write_wav(path: str | os.PathLike, pcm: bytes, sample_rate: int = SAMPLE_RATE) -> None:
    import soundfile as sf

    sf.write(str(path), np.frombuffer(pcm, dtype="<i2"), sample_rate, subtype="PCM_16")
