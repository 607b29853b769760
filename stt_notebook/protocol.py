"""The ``/ws/stt`` message schema, sans-I/O: client frames in → messages or coded errors out.

Parsing never raises: every frame becomes a :class:`Start`, :class:`Audio`, :class:`Stop` or a
:class:`ProtocolError` carrying a stable code, so a relay can answer bad input with an ``error``
frame and keep the connection. Server frames are :func:`stt_notebook.events.to_wire` plus the
closing summary built here.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any, Union

from .config import SAMPLE_RATE, StreamConfig
from .errors import ConfigError, ErrorCode
from .events import Error, to_wire

DEFAULT_MAX_FRAME_BYTES = 1 << 20
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # an engine or model name: never a path
ENGINE_KEYS = ("engine", "model")


@dataclass(frozen=True)
class Start:
    engine: str = "auto"
    model: str | None = None
    config: StreamConfig = field(default_factory=StreamConfig)


@dataclass(frozen=True)
class Audio:
    pcm: bytes
    timestamp: float | None = None
    chunk_id: int | str | None = None


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class ProtocolError:
    code: str
    message: str
    details: dict[str, Any] | None = None

    def frame(self) -> dict[str, Any]:
        return to_wire(Error(self.code, self.message, details=self.details))


ClientMessage = Union[Start, Audio, Stop, ProtocolError]


def too_large(size: int, max_bytes: int) -> ProtocolError:
    return ProtocolError(ErrorCode.PAYLOAD_TOO_LARGE, f"Frame of {size} bytes exceeds the {max_bytes}-byte limit.",
                         {"max_bytes": max_bytes})


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_frame(frame: str | bytes, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> ClientMessage:
    """One client frame → a message, or a :class:`ProtocolError`. Never raises, whatever the frame."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return parse_binary(bytes(frame), max_bytes)
    size = len(frame) if len(frame) * 4 <= max_bytes else len(frame.encode("utf-8", "surrogatepass"))
    if size > max_bytes:  # the limit is on bytes: a Hangul character is three of them
        return too_large(size, max_bytes)
    try:
        message = json.loads(frame, parse_constant=_no_constants)
    except (ValueError, RecursionError) as e:  # ValueError: bad JSON, NaN, an integer of 5,000 digits
        return ProtocolError(ErrorCode.INVALID_JSON, f"Text frames must be JSON ({type(e).__name__}).")
    if not isinstance(message, dict):
        return ProtocolError(ErrorCode.INVALID_MESSAGE, "A message must be a JSON object with a 'type'.")
    kind = message.get("type")
    if kind == "start_transcription":
        return parse_start(message.get("config", {}))
    if kind == "audio_data":
        return parse_audio_data(message, max_bytes)
    if kind == "stop_transcription":
        return Stop()
    return ProtocolError(ErrorCode.INVALID_MESSAGE, "Unknown message type.",  # never the client's text back
                         {"expected": ["start_transcription", "audio_data", "stop_transcription"]})


def parse_binary(frame: bytes, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> ClientMessage:
    if len(frame) > max_bytes:
        return too_large(len(frame), max_bytes)
    if len(frame) % 2:
        return ProtocolError(ErrorCode.AUDIO_FORMAT_ERROR,
                             f"Binary frames carry 16-bit PCM: {len(frame)} bytes is not a whole number of samples.")
    return Audio(frame)


def parse_audio_data(message: dict[str, Any], max_bytes: int) -> ClientMessage:
    data = message.get("audio")
    if not isinstance(data, str):
        return ProtocolError(ErrorCode.INVALID_MESSAGE, "audio_data needs 'audio': base64 of PCM16 16 kHz mono.")
    try:
        pcm = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return ProtocolError(ErrorCode.AUDIO_FORMAT_ERROR, "'audio' is not valid base64.")
    timestamp = message.get("timestamp")
    if timestamp is not None and (isinstance(timestamp, bool) or not isinstance(timestamp, (int, float))):
        return ProtocolError(ErrorCode.INVALID_MESSAGE, "'timestamp' must be a number.")
    chunk_id = message.get("chunk_id")
    if chunk_id is not None and (isinstance(chunk_id, bool) or not isinstance(chunk_id, (int, str))):
        return ProtocolError(ErrorCode.INVALID_MESSAGE, "'chunk_id' must be a number or a string.")
    audio = parse_binary(pcm, max_bytes)
    if isinstance(audio, Audio):
        return Audio(pcm, None if timestamp is None else float(timestamp), chunk_id)
    return audio


def parse_start(config: Any) -> ClientMessage:
    """``start_transcription.config`` → engine, model and a validated StreamConfig."""
    if not isinstance(config, dict):
        return ProtocolError(ErrorCode.INVALID_CONFIG, "'config' must be a JSON object.")
    options = {k: v for k, v in config.items() if k not in ENGINE_KEYS}
    engine = config.get("engine", "auto")
    model = config.get("model")
    if not isinstance(engine, str) or not NAME.fullmatch(engine) or (
            model is not None and (not isinstance(model, str) or not NAME.fullmatch(model))):
        return ProtocolError(ErrorCode.INVALID_CONFIG, "'engine' and 'model' must be names such as 'vosk' or "
                             "'tiny.en' (the server offers its engines and models; never a path).")
    if options.get("sample_rate", SAMPLE_RATE) != SAMPLE_RATE or options.get("channels", 1) != 1:
        return ProtocolError(ErrorCode.AUDIO_FORMAT_ERROR,
                             f"This relay takes PCM16 at {SAMPLE_RATE} Hz mono; resample before sending.",
                             {"sample_rate": SAMPLE_RATE, "channels": 1, "encoding": "linear16"})
    try:
        stream_config = StreamConfig.from_options(model=model, **options)
    except ConfigError as e:
        return ProtocolError(e.code, str(e))
    except (TypeError, ValueError, OverflowError) as e:
        return ProtocolError(ErrorCode.INVALID_CONFIG, f"Invalid config ({type(e).__name__}).")
    return Start(engine, model, stream_config)


def summary_frame(utterances: int, words: int, audio_seconds: float, text: str) -> dict[str, Any]:
    """The one frame sent after ``stop_transcription`` once every final is out."""
    return {"type": "transcription_stopped", "utterances": utterances, "words": words,
            "audio_seconds": round(audio_seconds, 3), "text": text}
