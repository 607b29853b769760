"""What a client asks and what it is told, whatever its wire: each wire's codec parses its frames
into these commands (bad input into a :class:`ProtocolError` carrying a stable code), the
connection (:mod:`.connection`) takes them in order, and its outcomes (events, and the
:class:`Started`/:class:`Stopped`/:class:`Configured`/:class:`Closing` below) are rendered back
by the codec. Plain data: no I/O, nothing raises."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from ..config import StreamConfig
from ..errors import ErrorCode
from ..events import Error, Event, to_wire

if TYPE_CHECKING:
    from ..transcript import Transcript

DEFAULT_MAX_FRAME_BYTES = 1 << 20
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # an engine or model name: never a path


@dataclass(frozen=True)
class Start:
    """Open a session: an engine and model by the names the server offers, and its options."""

    engine: str = "auto"
    model: str | None = None
    config: StreamConfig = field(default_factory=StreamConfig)


@dataclass(frozen=True)
class Audio:
    """PCM16 16 kHz mono (whole samples: the codec checked). ``timestamp``: the client's send time."""

    pcm: bytes
    timestamp: float | None = None
    chunk_id: int | str | None = None

    def __repr__(self) -> str:
        return f"Audio({len(self.pcm)} bytes)"


@dataclass(frozen=True)
class Finalize:
    """Flush what was heard as finals; the session goes on (Deepgram's Finalize)."""


@dataclass(frozen=True)
class KeepAlive:
    """No audio for a while, but the client is there (Deepgram's KeepAlive)."""


@dataclass(frozen=True)
class Stop:
    """Finish the session: what was received yields its finals."""


@dataclass(frozen=True)
class Close:
    """Finish what was received (its finals go out), then close the connection: ``why`` is
    "drain" (the host shuts down), "idle" (nothing came for ``idle_timeout``) or "bad_audio"."""

    why: str
    message: str = ""


@dataclass(frozen=True)
class ProtocolError:
    """A frame the codec could not take: told to the client as an error; the connection goes on."""

    code: str
    message: str
    details: dict[str, Any] | None = None
    start: bool = False  # it refused a Start: the audio after it is dropped, not run as some other session

    def frame(self) -> dict[str, Any]:
        return to_wire(Error(self.code, self.message, details=self.details))


@dataclass(frozen=True)
class Configure:
    """Change stream options mid-stream (Deepgram's Configure): the audio after it is heard with them."""

    options: tuple[tuple[str, Any], ...]


DRAIN = Close("drain", "server shutting down")
Command = Union[Start, Audio, Finalize, KeepAlive, Stop, ProtocolError, Close, Configure]


def too_large(size: int, max_bytes: int) -> ProtocolError:
    return ProtocolError(ErrorCode.PAYLOAD_TOO_LARGE, f"Frame of {size} bytes exceeds the {max_bytes}-byte limit.",
                         {"max_bytes": max_bytes})


def pcm_or_error(pcm: bytes, max_bytes: int) -> Audio | ProtocolError:
    """Audio bytes as a command: within the frame limit and whole 16-bit samples (every wire's check)."""
    if len(pcm) > max_bytes:
        return too_large(len(pcm), max_bytes)
    if len(pcm) % 2:
        return ProtocolError(ErrorCode.AUDIO_FORMAT_ERROR,
                             f"Audio is 16-bit PCM: {len(pcm)} bytes is not a whole number of samples.")
    return Audio(pcm)


def is_utf8(text: str) -> bool:
    """A host hands on a text frame that was not UTF-8 with its bad bytes as lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- what the client is told, besides the session's events --
@dataclass(frozen=True)
class Started:
    """A session is listening (its engine loaded): audio sent from now on is recognized at once."""

    engine: str


@dataclass(frozen=True)
class Stopped:
    """A session ended on the client's Stop: its transcript (None: no session was running) and
    the audio it took."""

    transcript: Transcript | None
    audio_seconds: float


@dataclass(frozen=True)
class Closing:
    """The connection should close: ``why`` is a :class:`Close`'s, "stopped" (the stream's own
    end) or "failed" (a one-session connection whose session could not start)."""

    why: str
    message: str = ""


@dataclass(frozen=True)
class Configured:
    """A Configure was taken: these options hold from the audio after it."""

    options: dict


Outcome = Union[Event, Started, Stopped, Closing, Configured]
