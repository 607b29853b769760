"""Audio as clients stream it (Deepgram's encodings, or a container it finds out itself) → PCM16
16 kHz mono, chunk by chunk: ``feed(chunk) -> pcm``, ``end() -> pcm``. Never raises: a stream that
is not audio makes ``error`` a message and gives no samples.

- raw encodings (``linear16``, ``linear32``, ``mulaw``, ``alaw``) with ``sample_rate``/``channels``
  are converted here, sample for sample;
- containers and compressed streams (WebM, Ogg, WAV, FLAC, MP3, AAC, MP4/M4A; or ``encoding=opus``,
  ``ogg-opus``, ``flac``) are demuxed and decoded by PyAV in a thread of their own that reads the
  chunks as they come (a recorder's WebM/Opus is decoded as it streams, not at the end); an MP4
  whose index comes last is decoded whole when the stream ends.
"""

from __future__ import annotations

import io
import threading
from typing import Callable

import numpy as np

from .audio import StreamResampler

RAW = ("linear16", "linear32", "mulaw", "alaw")  # the rest of config.ENCODINGS carry their own framing
MAX_BUFFERED = 64 * 1024 * 1024  # bytes of a container kept for a whole-stream decode at its end
ABANDONED_SECONDS = 120.0  # a stream that sends nothing this long has ended (its thread must not linger)
SETTLE_SECONDS = 0.1  # how long feed() waits for the decoder to take a chunk (its words then come at once)

# what a container's first bytes look like
_MAGIC: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("webm", lambda b: b.startswith(b"\x1a\x45\xdf\xa3")),
    ("ogg", lambda b: b.startswith(b"OggS")),
    ("wav", lambda b: b.startswith(b"RIFF") and b[8:12] == b"WAVE"),
    ("flac", lambda b: b.startswith(b"fLaC")),
    ("mp4", lambda b: b[4:8] == b"ftyp"),
    ("mp3", lambda b: b.startswith(b"ID3") or (len(b) > 1 and b[0] == 0xFF and b[1] & 0xE6 == 0xE2)),
    ("aac", lambda b: len(b) > 1 and b[0] == 0xFF and b[1] & 0xF6 == 0xF0),
)
SNIFF_BYTES = 12
CONTAINERS = tuple(name for name, _ in _MAGIC)
# formats whose first bytes cannot be PCM by chance (raw MP3 and AAC frame syncs can)
SELF_DESCRIBING = frozenset({"webm", "ogg", "wav", "flac", "mp4"})


def sniff(head: bytes) -> str | None:
    """The container or stream format these first bytes begin, or None."""
    return next((name for name, test in _MAGIC if test(head)), None)


def _mulaw_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.uint8)
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent.astype(np.int32)
    return np.where(sign != 0, 0x84 - magnitude, magnitude - 0x84).astype(np.int16)


def _alaw_table() -> np.ndarray:
    a = np.arange(256, dtype=np.uint8) ^ 0x55
    sign, exponent, mantissa = a & 0x80, (a >> 4) & 0x07, (a & 0x0F).astype(np.int32)
    magnitude = np.where(exponent == 0, (mantissa << 4) + 8,
                         ((mantissa << 4) + 0x108) << np.maximum(exponent.astype(np.int32) - 1, 0))
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_G711 = {"mulaw": _mulaw_table(), "alaw": _alaw_table()}


class RawDecoder:
    """Deepgram's raw encodings at any rate and channel count → PCM16 16 kHz mono."""

    def __init__(self, encoding: str, sample_rate: int, channels: int):
        self.encoding, self.channels = encoding, channels
        self.width = {"linear16": 2, "linear32": 4}.get(encoding, 1)
        self.error: str | None = None
        self._resample = StreamResampler(sample_rate)

    def feed(self, chunk: bytes) -> bytes:
        """One frame of whole samples (Deepgram refuses a frame that splits one)."""
        whole = bytes(chunk)
        if len(whole) % (self.width * self.channels):
            self.error = (f"a frame of {len(whole)} bytes is not whole {self.encoding} samples "
                          f"({self.width * self.channels} bytes each with {self.channels} channel(s))")
            return b""
        if self.encoding == "linear16":
            x = np.frombuffer(whole, "<i2")
        elif self.encoding == "linear32":
            x = (np.frombuffer(whole, "<i4") >> 16).astype(np.int16)
        else:
            x = _G711[self.encoding][np.frombuffer(whole, np.uint8)]
        if self.channels > 1:
            x = x.reshape(-1, self.channels).mean(axis=1).astype(np.int16)
        return self._resample(x)

    def end(self) -> bytes:
        return self._resample(b"", last=True)


class _Pipe(io.RawIOBase):
    """The chunks received so far, read by the decoding thread: ``read`` waits for more (the
    stream is live) until the stream ends."""

    def __init__(self) -> None:
        self._chunks = bytearray()
        self._ended = False
        self._waiting = False  # the reader has taken everything and waits for more
        self._cond = threading.Condition()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer) -> int:
        with self._cond:
            while not self._chunks and not self._ended:
                self._waiting = True
                self._cond.notify_all()
                if not self._cond.wait(ABANDONED_SECONDS):
                    self._ended = True  # the connection went without a word: the thread ends too
            self._waiting = False
            n = min(len(buffer), len(self._chunks))
            buffer[:n] = self._chunks[:n]
            del self._chunks[:n]
            return n

    def put(self, chunk: bytes) -> None:
        with self._cond:
            self._chunks += chunk
            self._cond.notify_all()

    def close_input(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    def settle(self, timeout: float) -> None:
        """Wait (a little) until the reader has taken what was put and asks for more."""
        with self._cond:
            self._cond.wait_for(lambda: self._waiting and not self._chunks or self._ended, timeout)


class ContainerDecoder:
    """A container or compressed stream, demuxed and decoded by PyAV as its chunks arrive."""

    def __init__(self, format: str | None = None):
        self.format = format  # None: found from the first bytes
        self.error: str | None = None
        self._head = b""
        self._whole: bytearray | None = None  # an MP4's bytes, for a whole decode if its index comes last
        self._pipe: _Pipe | None = None
        self._thread: threading.Thread | None = None
        self._out: list[bytes] = []
        self._lock = threading.Lock()
        self._streamed = False  # the streaming decoder gave samples

    def feed(self, chunk: bytes) -> bytes:
        if self.error:
            return b""
        chunk = bytes(chunk)
        if self._whole is not None and len(self._whole) + len(chunk) <= MAX_BUFFERED:
            self._whole += chunk
        if self._pipe is None:
            self._head += chunk
            if len(self._head) < SNIFF_BYTES:
                return b""
            if not self._begin(self._head):
                return b""
            chunk = self._head
        self._pipe.put(chunk)
        self._pipe.settle(SETTLE_SECONDS)
        return self._take()

    def end(self) -> bytes:
        if self._pipe is None:
            if not self._head or not self._begin(self._head):
                return b""
            self._pipe.put(self._head)
        self._pipe.close_input()
        self._thread.join(30)
        if not self._streamed and self._whole:  # an MP4 whose index came last: decode it whole
            self.error = None
            self._decode(io.BytesIO(bytes(self._whole)))
        if not self._streamed and self.error is None:
            self.error = "no audio could be decoded from the stream"
        return self._take()

    def _begin(self, head: bytes) -> bool:
        kind = self.format or sniff(head)
        if kind is None:
            self.error = "the stream is not audio in a format this server reads (no encoding was given, and it is not WebM, Ogg, WAV, FLAC, MP3, AAC or MP4)"
            return False
        if kind == "mp4":
            self._whole = bytearray(head)
        self._pipe = _Pipe()
        self._thread = threading.Thread(target=self._decode, args=(self._pipe,), daemon=True, name="stt-demux")
        self._thread.start()
        return True

    def _decode(self, source) -> None:
        import av

        try:
            with av.open(source, mode="r") as container:
                stream = next(s for s in container.streams if s.type == "audio")
                converter = av.AudioResampler(format="s16", layout="mono", rate=16000)
                for frame in container.decode(stream):
                    for out in converter.resample(frame):
                        self._give(out.to_ndarray().reshape(-1).astype("<i2").tobytes())
                for out in converter.resample(None):
                    self._give(out.to_ndarray().reshape(-1).astype("<i2").tobytes())
        except StopIteration:
            self.error = "the stream holds no audio track"
        except Exception as e:  # PyAV's errors are many; any of them means the bytes are not audio
            if source is self._pipe and self._whole is not None:
                return  # an MP4 whose index comes last: read whole at the end
            self.error = f"the audio could not be decoded ({type(e).__name__})"

    def _give(self, pcm: bytes) -> None:
        with self._lock:
            self._out.append(pcm)
            self._streamed = True

    def _take(self) -> bytes:
        with self._lock:
            out, self._out = b"".join(self._out), []
        return out


def decoder(encoding: str | None, sample_rate: int = 16000, channels: int = 1) -> RawDecoder | ContainerDecoder:
    """The decoder for a stream: ``encoding=None`` means the format is found from its first bytes."""
    if encoding in RAW:
        return RawDecoder(encoding, sample_rate, channels)
    return ContainerDecoder({"opus": "ogg", "ogg-opus": "ogg", "flac": "flac"}.get(encoding or "", None))
