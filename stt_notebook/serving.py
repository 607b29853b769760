"""What an operator decides for clients, on every server: which engines and models they may
choose, the limits, the drain, the frame size. One list of settings, from which the Jupyter
relay's traitlets (``c.STTRelay.max_sessions``), ``serve``'s config and its flags
(``--max-sessions``) are made, so a default or its help is written once; and the one ``/info``
document both servers answer with."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from ._version import __version__
from .wire.connection import Limits
from .wire.vocabulary import DEFAULT_MAX_FRAME_BYTES


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str


_LIMITS = Limits()
SETTINGS = {s.name: s for s in (
    Setting("engines", ("vosk", "whisper", "echo"),
            "Engines clients may choose. Add 'deepgram' to let clients spend this server's DEEPGRAM_API_KEY "
            "('auto' picks it only then)."),
    Setting("models", {}, "Extra models clients may choose, by name: {'ko-big': '/srv/models/vosk-ko-big'}. "
                          "Packaged models are offered by their names (ko, tiny.en); a client never sends a path."),
    Setting("max_sessions", _LIMITS.max_sessions, "Concurrent transcription sessions across all connections."),
    Setting("max_connections", _LIMITS.max_connections, "Open WebSocket connections; more are refused (HTTP 503)."),
    Setting("max_realtime_factor", _LIMITS.max_realtime_factor,
            "Audio is taken at most this many times faster than real time; faster senders wait (backpressure) "
            "until max_queued_frames, then get RATE_LIMITED."),
    Setting("burst_seconds", _LIMITS.burst_seconds, "Audio a client may send ahead of the real-time allowance."),
    Setting("max_queued_frames", _LIMITS.max_queued_frames, "Frames waiting per connection before RATE_LIMITED."),
    Setting("idle_timeout", _LIMITS.idle_timeout, "Close a connection silent for this many seconds (0: never)."),
    Setting("max_frame_bytes", DEFAULT_MAX_FRAME_BYTES, "Largest accepted frame, text or binary (bytes)."),
    Setting("drain_timeout", 10.0, "On shutdown (SIGTERM), seconds to finish what clients already sent: their "
                                   "finals go out, then each connection closes 1001."),
)}
LIMIT_NAMES = tuple(field.name for field in dataclasses.fields(Limits))


def limits_from(values: Mapping[str, Any]) -> Limits:
    """The Limits among an operator's values (traitlets, flags); the rest default."""
    return Limits(**{name: values[name] for name in LIMIT_NAMES if name in values})


def info_document(engines: Sequence[str], limits: Mapping[str, Any], sessions: Mapping[str, Any],
                  audio: Mapping[str, Any], **more: Any) -> dict[str, Any]:
    """``/info`` (behind the server's auth): what runs here and what a client may ask of it."""
    from .doctor import engine_checks
    from .engines import deepgram_key_available

    return {
        "version": __version__,
        "engines": [{"name": name, "usable": ok, "detail": detail} for _, name, ok, detail in engine_checks()],
        "engine_names": list(engines),  # what clients may choose here
        "deepgram": deepgram_key_available(),  # whether a key is set; never the key
        "audio": dict(audio),
        "sessions": dict(sessions),
        "limits": dict(limits),
        **more,
    }
