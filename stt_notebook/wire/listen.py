"""The Deepgram ``/v1/listen`` wire, sans-I/O: client frames → commands (binary audio
in any of Deepgram's encodings decoded to 16 kHz mono by ``incoming``, Finalize, KeepAlive,
Configure, CloseStream), and the connection's outcomes → Deepgram's messages and close codes."""

from __future__ import annotations

import datetime
import json
import re
from typing import Any, Mapping

from .. import incoming
from ..config import StreamConfig
from ..errors import ConfigError, ErrorCode, shown
from ..events import Error
from ..deepgram.protocol import NET0001, event_message, metadata_message
from .auth import header_token, secret_matches
from .vocabulary import (DEFAULT_MAX_FRAME_BYTES, Audio, Close, Closing, Command, Configure, Configured, Finalize, KeepAlive,
                         Outcome, ProtocolError, Started, Stop, Stopped, is_utf8, too_large)

CLOSE = {"stopped": (1000, ""), "drain": (1001, "server shutting down"), "idle": (1011, NET0001),
         "bad_audio": (1008, "DATA-0000"), "failed": (1011, "NET-0000")}
VARIANTS = {ErrorCode.INVALID_JSON: "SchemaError"}  # Deepgram's name for the same mistake
MAX_KEYTERM_TOKENS = 500  # Deepgram's limit, for the query's keyterms and each Configure
# what a Configure's "features" may turn on or off: the formatting options
FEATURES = frozenset({"numerals", "smart_format", "punctuate", "profanity_filter", "dictation", "filler_words"})


def authorized(headers: Mapping[str, str], key: str | None, query_token: str | None = None) -> tuple[bool, str | None]:
    """(ok, subprotocol to echo) for a handshake: header ``Token``/``Bearer`` KEY, the
    subprotocols ["token", KEY] browsers use, or ``?token=KEY``. ``key=None`` accepts any client."""
    if key is None:
        return True, None
    if secret_matches(header_token(headers), key):
        return True, None
    offered = [p.strip() for p in (headers.get("sec-websocket-protocol") or "").split(",")]
    if len(offered) == 2 and offered[0].lower() in ("token", "bearer") and secret_matches(offered[1], key):
        return True, offered[0]
    return secret_matches(query_token, key), None


def refusal(code: str, message: str, request_id: str) -> dict[str, Any]:
    """The JSON body (and ``dg-error`` header) of a refused handshake, as Deepgram writes it."""
    return {"err_code": code, "err_msg": message, "request_id": request_id}


class ListenCodec:
    """One ``/v1/listen`` stream's frames and messages."""

    def __init__(self, config: StreamConfig, request_id: str, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES):
        self.config = config
        self.max_frame_bytes = max_frame_bytes
        self.request_id = request_id
        self.model = config.model or "nova-2"
        self._audio = incoming.decoder(config.encoding, config.sample_rate, config.channels)

    def commands(self, frame: str | bytes) -> list[Command]:
        """What one client frame asks of the connection. Never raises."""
        size = len(frame) if isinstance(frame, (bytes, bytearray, memoryview)) else len(frame) * 4
        if size > self.max_frame_bytes and (isinstance(frame, (bytes, bytearray, memoryview))
                                            or (size := len(frame.encode("utf-8", "surrogatepass"))) > self.max_frame_bytes):
            return [too_large(size, self.max_frame_bytes)]  # refused, the stream goes on
        if isinstance(frame, (bytes, bytearray, memoryview)):
            if not frame:
                return self._closing()  # the deprecated empty frame means CloseStream
            return self._heard(self._audio.feed(frame))
        if not is_utf8(frame):
            return [ProtocolError(ErrorCode.INVALID_JSON, "Text messages must be UTF-8 JSON; it was ignored.")]
        try:
            message = json.loads(frame)
            kind = message.get("type")
        except (ValueError, AttributeError, RecursionError):  # malformed: say so, keep the stream
            return [ProtocolError(ErrorCode.INVALID_JSON, "Could not parse a text message as JSON; it was ignored.")]
        if kind == "Configure":
            return [self._configure(message)]
        if kind == "Finalize":
            return [Finalize()]
        if kind == "CloseStream":
            return self._closing()
        if kind == "KeepAlive":
            return [KeepAlive()]
        return []  # unknown types are ignored, as Deepgram does

    def _configure(self, message: dict[str, Any]) -> Command:
        """Deepgram's Configure: ``keyterms`` replaces the stream's keyterms (Nova-3 models), ``features``
        turns formatting options on or off; refused with Deepgram's ConfigureFailure codes."""
        keyterms, features = message.get("keyterms"), message.get("features")
        options: dict[str, Any] = {}
        if keyterms is not None:
            if not isinstance(keyterms, list) or not all(isinstance(k, str) for k in keyterms):
                return ProtocolError("CONFIGURE_INTERNAL_ERROR", "keyterms must be a list of strings.")
            if not self.model.startswith("nova-3"):
                return ProtocolError("CONFIGURE_KEYTERMS_NOT_SUPPORTED",
                                     f"Mid-stream keyterms need a Nova-3 model; this stream's is {shown(self.model)}.")
            tokens = len(re.findall(r"\w+|[^\w\s]", " ".join(keyterms)))
            if tokens > MAX_KEYTERM_TOKENS:
                return ProtocolError("CONFIGURE_KEYTERM_LIMIT_EXCEEDED",
                                     f"The keyterms are {tokens} tokens; at most {MAX_KEYTERM_TOKENS} are allowed.")
            options["keyterm"] = tuple(keyterms)
        if features is not None:
            if not isinstance(features, dict) or not all(isinstance(v, bool) for v in features.values()):
                return ProtocolError("CONFIGURE_INTERNAL_ERROR", "features must map feature names to true or false.")
            unknown = sorted(set(features) - FEATURES)
            if unknown:
                return ProtocolError("CONFIGURE_INTERNAL_ERROR", f"Unknown feature {shown(unknown[0])}.")
            options.update(features)
        try:
            self.config = self.config.with_options(**options)
        except ConfigError as e:
            return ProtocolError("CONFIGURE_INTERNAL_ERROR", str(e))
        return Configure(tuple(options.items()))

    def _closing(self) -> list[Command]:
        if self._audio.error:
            return [Stop()]
        return [*self._heard(self._audio.end()), Stop()]  # the decoder's last samples first

    def _heard(self, pcm: bytes) -> list[Command]:
        """Decoded samples as Audio; a stream that is not audio is closed as Deepgram does (1008 DATA-0000)."""
        if self._audio.error:
            return [Close("bad_audio")]
        return [Audio(pcm)] if pcm else []

    def close_code(self, why: str) -> tuple[int, str]:
        return CLOSE[why]

    def render(self, outcome: Outcome) -> list[dict[str, Any]]:
        """The messages that tell the client ``outcome`` (a Closing's close code is ``CLOSE[why]``)."""
        if isinstance(outcome, Stopped):
            created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
            return [metadata_message(self.request_id, outcome.audio_seconds, self.config.channels, self.model,
                                     created.replace("+00:00", "Z"))]
        if isinstance(outcome, (Started, Closing)):
            return []
        if isinstance(outcome, Configured):
            success = {"type": "ConfigureSuccess", "request_id": self.request_id}
            return [{**success, "keyterms": list(outcome.options["keyterm"])} if "keyterm" in outcome.options else success]
        if isinstance(outcome, Error) and outcome.code.startswith("CONFIGURE_"):
            return [{"type": "ConfigureFailure", "request_id": self.request_id, "code": outcome.code,
                     "description": outcome.message}]
        if isinstance(outcome, Error) and outcome.code in VARIANTS:
            return [{"type": "Error", "variant": VARIANTS[outcome.code], "description": outcome.message,
                     "message": outcome.message}]
        message = event_message(outcome, self.request_id, self.model)
        return [] if message is None else [message]
