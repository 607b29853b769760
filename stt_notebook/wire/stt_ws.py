"""The ``/ws/stt`` wire, sans-I/O: client frames → commands, the connection's outcomes →
the seed protocol's frames.

Parsing never raises: every frame becomes a :class:`Start`, :class:`Audio`, :class:`Stop` or a
:class:`ProtocolError` carrying a stable code, so a host can answer bad input with an ``error``
frame and keep the connection.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from typing import Any

from .. import incoming
from ..config import SAMPLE_RATE, StreamConfig
from ..errors import ConfigError, ErrorCode
from ..events import Error, to_wire
from .vocabulary import (DEFAULT_MAX_FRAME_BYTES, NAME, Audio, Closing, Command, Configure, Configured, Outcome, ProtocolError,
                         Start, Started, Stop, Stopped, is_utf8, pcm_or_error, too_large)

ENGINE_KEYS = ("engine", "model")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_frame(frame: str | bytes, max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> Command:
    """One client frame → a message, or a :class:`ProtocolError`. Never raises, whatever the frame."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return pcm_or_error(bytes(frame), max_bytes)
    size = len(frame) if len(frame) * 4 <= max_bytes else len(frame.encode("utf-8", "surrogatepass"))
    if size > max_bytes:  # the limit is on bytes: a Hangul character is three of them
        return too_large(size, max_bytes)
    if not is_utf8(frame):
        return ProtocolError(ErrorCode.INVALID_MESSAGE, "Text frames must be UTF-8.")
    try:
        message = json.loads(frame, parse_constant=_no_constants)
    except (ValueError, RecursionError) as e:  # ValueError: bad JSON, NaN, an integer of 5,000 digits
        return ProtocolError(ErrorCode.INVALID_JSON, f"Text frames must be JSON ({type(e).__name__}).")
    if not isinstance(message, dict):
        return ProtocolError(ErrorCode.INVALID_MESSAGE, "A message must be a JSON object with a 'type'.")
    kind = message.get("type")
    if kind == "start_transcription":
        start = parse_start(message.get("config", {}))
        return dataclasses.replace(start, start=True) if isinstance(start, ProtocolError) else start
    if kind == "audio_data":
        return parse_audio_data(message, max_bytes)
    if kind == "stop_transcription":
        return Stop()
    if kind == "configure":
        return parse_configure(message.get("config"))
    return ProtocolError(ErrorCode.INVALID_MESSAGE, "Unknown message type.",  # never the client's text back
                         {"expected": ["start_transcription", "audio_data", "configure", "stop_transcription"]})


# what may change mid-stream, from the next utterance on (the engine, language and audio format may not)
MID_STREAM = frozenset({"keyterm", "keywords", "numerals", "smart_format", "punctuate", "replace", "search",
                        "profanity_filter", "dictation", "filler_words"})


def parse_configure(config: Any) -> Command:
    """``configure.config`` → the options to change (checked as a start's are)."""
    if not isinstance(config, dict) or not config or not set(config) <= MID_STREAM:
        return ProtocolError(ErrorCode.INVALID_CONFIG, "'config' must name options that may change mid-stream.",
                             {"options": sorted(MID_STREAM)})
    try:
        StreamConfig.from_options(**config)
    except ConfigError as e:
        return ProtocolError(e.code, str(e))
    except (TypeError, ValueError, OverflowError) as e:
        return ProtocolError(ErrorCode.INVALID_CONFIG, f"Invalid config ({type(e).__name__}).")
    return Configure(tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in config.items()))


def parse_audio_data(message: dict[str, Any], max_bytes: int) -> Command:
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
    audio = pcm_or_error(pcm, max_bytes)
    if isinstance(audio, Audio):
        return Audio(pcm, None if timestamp is None else float(timestamp), chunk_id)
    return audio


def parse_start(config: Any) -> Command:
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


CLOSE = {"idle": (1000, "idle timeout"), "drain": (1001, "server shutting down"), "stopped": (1000, "")}


class RelayCodec:
    """One ``/ws/stt`` connection's frames → commands. Binary audio is PCM16 16 kHz mono unless the
    start named another ``encoding``, ``sample_rate`` or ``channels`` (Deepgram's names), gave
    ``"encoding": null``, or the stream's first bytes are a container (WebM, Ogg, WAV, FLAC, MP4):
    then ``incoming`` decodes it, and the session hears PCM16 16 kHz mono all the same."""

    def __init__(self, max_bytes: int = DEFAULT_MAX_FRAME_BYTES):
        self.max_bytes = max_bytes
        self._config = StreamConfig()  # the last start's audio format: the next stream's too
        self._fresh()

    def _fresh(self) -> None:
        """A decoder for a new stream in the last start's format (None: PCM16 as sent)."""
        c = self._config
        pcm16 = c.encoding == "linear16" and c.sample_rate == SAMPLE_RATE and c.channels == 1
        self._audio = None if pcm16 else incoming.decoder(c.encoding, c.sample_rate, c.channels)
        self._sniffing = pcm16  # its first binary frame may be a container

    def commands(self, frame: str | bytes) -> list[Command]:
        """Never raises, whatever the frame."""
        if isinstance(frame, (bytes, bytearray, memoryview)):
            return self._audio_commands(bytes(frame))
        command = parse_frame(frame, self.max_bytes)
        if isinstance(command, Start):
            self._config = command.config
            self._fresh()
            command = dataclasses.replace(command, config=command.config.with_options(
                encoding="linear16", sample_rate=SAMPLE_RATE, channels=1))  # what the session hears
        elif isinstance(command, Stop):
            tail = b"" if self._audio is None or self._audio.error else self._audio.end()
            self._fresh()
            return [Audio(tail), command] if tail else [command]
        return [command]

    def _audio_commands(self, data: bytes) -> list[Command]:
        if len(data) > self.max_bytes:
            return [too_large(len(data), self.max_bytes)]
        if self._sniffing:
            self._sniffing = False
            if incoming.sniff(data[:incoming.SNIFF_BYTES]) in incoming.SELF_DESCRIBING:
                self._audio = incoming.decoder(None)
        if self._audio is None:
            return [pcm_or_error(data, self.max_bytes)]
        if self._audio.error:
            return []  # a stream that was not audio: told once, dropped until the next start
        pcm = self._audio.feed(data)
        if error := self._audio.error:
            if isinstance(self._audio, incoming.RawDecoder):
                self._audio.error = None  # one frame of broken samples: dropped, the stream goes on
            return [ProtocolError(ErrorCode.AUDIO_FORMAT_ERROR, f"The audio could not be read: {error}.")]
        return [Audio(pcm)] if pcm else []

    def render(self, outcome: Outcome) -> list[dict[str, Any]]:
        return render(outcome)

    def close_code(self, why: str) -> tuple[int, str]:
        return CLOSE.get(why, (1011, why))


def render(outcome: Outcome) -> list[dict[str, Any]]:
    """The frames that tell the client ``outcome`` (a Closing's close code is in ``CLOSE``)."""
    if isinstance(outcome, Stopped):
        if (t := outcome.transcript) is None:  # a stop with no session running
            return [summary_frame(0, 0, 0.0, "")]
        return [summary_frame(len(t), len(t.words), outcome.audio_seconds, t.text)]
    if isinstance(outcome, Started):
        return []
    if isinstance(outcome, Configured):
        return [{"type": "configured", "config": {k: list(v) if isinstance(v, tuple) else v
                                                  for k, v in outcome.options.items()}}]
    if isinstance(outcome, Closing):
        if outcome.why == "idle":
            return [to_wire(Error(ErrorCode.IDLE_TIMEOUT, outcome.message))]
        return []
    return [to_wire(outcome)]
