"""Deepgram's live ``/v1/listen`` protocol, sans-I/O (https://developers.deepgram.com/reference/speech-to-text/listen-streaming).

Pure functions both sides share: the Deepgram engine (a client) and ``serve-deepgram`` (a
Deepgram-compatible server over the offline engines). Query building with Deepgram's own names,
the documented cross-option rules, server messages → the project's events, and Deepgram's
handshake statuses and close codes → the project's error codes. Secrets never pass through here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any, Union

from ..config import LOCAL_OPTIONS, StreamConfig
from ..errors import ConfigError, ErrorCode, shown
from ..events import Error, Event, Final, Interim, SpeechStarted, UtteranceEnd, Word, search_from_wire, search_to_wire

DEFAULT_MODEL = "nova-2"
KEEPALIVE = json.dumps({"type": "KeepAlive"})
FINALIZE = json.dumps({"type": "Finalize"})
CLOSE_STREAM = json.dumps({"type": "CloseStream"})


def is_nova3(model: str) -> bool:
    return model.startswith("nova-3")


def check_rules(config: StreamConfig) -> None:
    """Deepgram's documented cross-option rules, checked before connecting (Deepgram answers 400)."""
    model = config.model or DEFAULT_MODEL
    if config.utterance_end_ms is not None and not config.interim_results:
        raise ConfigError("utterance_end_ms needs interim_results=True.",
                          hint="Turn on interim_results, or set utterance_end_ms=None.")
    if config.keyterm and not is_nova3(model):
        raise ConfigError(f"keyterm works only with Nova-3 models, not {shown(model)}.",
                          hint="Use model='nova-3', or keywords=… with Nova-2.")
    if config.keywords and is_nova3(model):
        raise ConfigError(f"keywords do not work with {shown(model)}.", hint="Use keyterm=… with Nova-3.")


def build_query(config: StreamConfig) -> list[tuple[str, str]]:
    """Query pairs for ``/v1/listen``: Deepgram's names, booleans lower-case, lists as repeated keys.

    Deepgram's boolean options all default to false, so only true ones are sent; ``endpointing``
    is sent as ``false`` to turn it off, as a number to set it, and left out for Deepgram's default.
    """
    check_rules(config)
    pairs: list[tuple[str, str]] = [("model", config.model or DEFAULT_MODEL)]
    for f in fields(StreamConfig):
        name, value = f.name, getattr(config, f.name)
        if name in ("model", "extra") or name in LOCAL_OPTIONS or value is None or value is True and name == "endpointing":
            continue
        if isinstance(value, tuple):
            pairs += [(name, str(v)) for v in value]
        elif isinstance(value, bool):
            if value or name == "endpointing":
                pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    pairs += [("extra", f"{k}:{v}") for k, v in config.extra.items()]
    return pairs


@dataclass(frozen=True)
class Metadata:
    """The summary Deepgram sends once at the end of a stream."""

    request_id: str
    duration: float
    channels: int
    raw: dict[str, Any]


ServerMessage = Union[Event, Metadata, None]


def _words(alternative: dict[str, Any]) -> tuple[Word, ...]:
    return tuple(Word(str(w["word"]), float(w["start"]), float(w["end"]), float(w.get("confidence", 0.0)),
                      w.get("speaker"), w.get("punctuated_word")) for w in alternative.get("words") or ())


def parse_message(text: str | bytes) -> ServerMessage:
    """One server text frame → an event, :class:`Metadata`, or None for a type we do not use.

    Unknown types are tolerated (Deepgram adds new ones); a frame that is not Deepgram JSON at all
    becomes an ``UPSTREAM_ERROR`` event rather than an exception.
    """
    try:
        m = json.loads(text)
        kind = m.get("type")
        if kind == "Results":
            alternative = (m.get("channel", {}).get("alternatives") or [{}])[0]
            start = float(m.get("start", 0.0))
            common = dict(text=str(alternative.get("transcript", "")), confidence=float(alternative.get("confidence", 0.0)),
                          start=start, end=round(start + float(m.get("duration", 0.0)), 6), words=_words(alternative))
            if m.get("is_final"):
                search = tuple(search_from_wire(r) for r in m.get("channel", {}).get("search") or ())
                return Final(**common, speech_final=bool(m.get("speech_final")), from_finalize=bool(m.get("from_finalize")),
                             search=search)
            return Interim(**common)
        if kind == "SpeechStarted":
            return SpeechStarted(float(m["timestamp"]))
        if kind == "UtteranceEnd":
            return UtteranceEnd(float(m["last_word_end"]))
        if kind == "Metadata":
            return Metadata(str(m.get("request_id", "")), float(m.get("duration", 0.0)), int(m.get("channels", 0)), m)
        if kind == "Error":
            return Error(ErrorCode.UPSTREAM_ERROR, str(m.get("description") or m.get("message") or "Deepgram error"),
                         details={k: m[k] for k in ("variant", "code") if k in m} or None)
        return None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as e:
        return Error(ErrorCode.UPSTREAM_ERROR, f"Unreadable message from Deepgram: {type(e).__name__}.")


def handshake_error(status: int, body: str = "", retry_after: str | None = None) -> Error:
    """A refused upgrade (HTTP status, body / dg-error, Retry-After) → the project's error."""
    try:
        detail = json.loads(body) if body else {}
        message = str(detail.get("err_msg") or detail.get("message") or body)
    except (ValueError, AttributeError):
        message = body
    codes = {400: ErrorCode.INVALID_CONFIG, 401: ErrorCode.AUTH_ERROR, 402: ErrorCode.API_LIMIT_EXCEEDED,
             403: ErrorCode.AUTH_ERROR, 429: ErrorCode.RATE_LIMITED}
    hints = {400: "Check the options (model, language and their combination).",
             401: "Check DEEPGRAM_API_KEY.", 402: "The Deepgram balance is exhausted.",
             403: "The key's project has no access to this model.",
             429: "Too many concurrent streams for the project; retry later."}
    code = codes.get(status, ErrorCode.UPSTREAM_ERROR)
    wait = None
    if retry_after:
        try:
            wait = float(retry_after)
        except ValueError:
            wait = None
    text = f"Deepgram refused the connection ({status}{': ' + message if message else ''})."
    hint = hints.get(status, "Deepgram is unavailable; retry later.")
    return Error(code, f"{text} {hint}", retry_after=wait, details={"status": status})


def close_error(code: int, reason: str = "") -> Error | None:
    """A close code from Deepgram → an error, or None for a normal close (1000/1001)."""
    if code in (1000, 1001):
        return None
    if code == 1008:
        return Error(ErrorCode.AUDIO_FORMAT_ERROR, "Deepgram could not decode the audio (DATA-0000). "
                     "Check encoding, sample_rate and channels.", details={"close_code": code, "reason": reason})
    if code == 1011 and "net0001" in reason.lower().replace("-", ""):
        return Error(ErrorCode.UPSTREAM_ERROR, "Deepgram closed an idle stream (NET-0001): no audio or KeepAlive "
                     "within its timeout.", details={"close_code": code, "reason": reason})
    return Error(ErrorCode.UPSTREAM_ERROR, f"Deepgram closed the stream ({code}{': ' + reason if reason else ''}).",
                 details={"close_code": code, "reason": reason})


# -- the server side (serve-deepgram): query → config, events → Deepgram messages --

_INT_OPTIONS = {"sample_rate", "channels", "utterance_end_ms"}
_LIST_OPTIONS = {f.name for f in fields(StreamConfig) if f.type in ("tuple[str, ...]",)}
_IGNORED = {"version", "callback", "callback_method", "tier", "alternatives", "diarize_version",
            "vad_turnoff", "log_data", "token"}  # token: the handshake read it


def config_from_query(pairs: list[tuple[str, str]]) -> StreamConfig:
    """``/v1/listen`` query pairs → StreamConfig, with Deepgram's rules. Raises ConfigError (HTTP 400)."""
    known = {f.name: f for f in fields(StreamConfig)}
    options: dict[str, Any] = {}
    lists: dict[str, list[str]] = {}
    extra: dict[str, str] = {}
    detect = False
    for name, value in pairs:
        if name in _IGNORED:
            continue
        if name == "detect_language":  # Deepgram: the language found per utterance, as language=multi
            detect = value.lower() == "true"
            continue
        if name == "diarize_model":  # Deepgram's newer name for asking for speakers
            options["diarize"] = True
            continue
        if name == "extra":
            key, _, val = value.partition(":")
            extra[key] = val
        elif name in _LIST_OPTIONS:
            lists.setdefault(name, []).append(value)
        elif name not in known:
            raise ConfigError(f"Unknown query parameter {shown(name)}.")
        elif name == "endpointing":
            options[name] = False if value.lower() == "false" else True if value.lower() == "true" else _int(name, value)
        elif name in _INT_OPTIONS:
            options[name] = _int(name, value)
        elif value.lower() in ("true", "false"):
            options[name] = value.lower() == "true"
        else:
            options[name] = value
    options.setdefault("model", DEFAULT_MODEL)
    # Deepgram's own defaults where ours differ: off unless asked for
    for name in ("interim_results", "punctuate", "smart_format", "vad_events"):
        options.setdefault(name, False)
    options.setdefault("utterance_end_ms", None)
    options.setdefault("language", "en")
    if detect:
        options["language"] = "multi"
    options.setdefault("encoding", None)  # none given: containerized audio, its format found from its bytes
    config = StreamConfig(**options, **{k: tuple(v) for k, v in lists.items()}, extra=extra)
    check_rules(config)
    return config


def _int(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, not {shown(value)}.") from None


def results_message(event: Interim | Final, request_id: str, model: str, channels: int = 1) -> dict[str, Any]:
    """An Interim or Final as Deepgram's ``Results`` message (field order as observed on the wire)."""
    final = isinstance(event, Final)
    language = getattr(event, "language", None)  # a Final's, where the engine found it (language=multi)
    words = [{"word": w.text, "start": w.start, "end": w.end, "confidence": w.confidence,
              **({"punctuated_word": w.punctuated} if w.punctuated else {}),
              **({"speaker": w.speaker} if w.speaker is not None else {}),
              **({"language": language} if language else {})} for w in event.words]
    alternative = {"transcript": event.text, "confidence": event.confidence, "words": words,
                   **({"languages": [language]} if language else {})}
    return {"type": "Results", "channel_index": [0, channels], "duration": round(event.end - event.start, 6),
            "start": event.start, "is_final": final, "speech_final": bool(final and event.speech_final),
            "channel": {"alternatives": [alternative],
                        **({"search": [search_to_wire(r) for r in event.search]} if final and event.search else {}),
                        **({"detected_language": language} if language else {})},
            "metadata": {"request_id": request_id, "model_info": {"name": model, "version": "stt-notebook", "arch": model},
                         "model_uuid": request_id},
            "from_finalize": bool(final and event.from_finalize)}


def event_message(event: Event, request_id: str, model: str, channels: int = 1) -> dict[str, Any] | None:
    """Any project event as the Deepgram message a client expects (None if Deepgram has none)."""
    if isinstance(event, (Interim, Final)):
        return results_message(event, request_id, model, channels)
    if isinstance(event, SpeechStarted):
        return {"type": "SpeechStarted", "channel": [0, channels], "timestamp": event.timestamp}
    if isinstance(event, UtteranceEnd):
        return {"type": "UtteranceEnd", "channel": [0, channels], "last_word_end": event.last_word_end}
    if isinstance(event, Error):
        return {"type": "Error", "variant": event.code, "description": event.message, "message": event.message}
    return None


def metadata_message(request_id: str, duration: float, channels: int, model: str, created: str) -> dict[str, Any]:
    return {"type": "Metadata", "transaction_key": "deprecated", "request_id": request_id, "sha256": "incomplete",
            "created": created, "duration": round(duration, 6), "channels": channels,
            "models": [request_id], "model_info": {request_id: {"name": model, "version": "stt-notebook", "arch": model}}}


NET0001 = ("Deepgram did not receive audio data or a text message within the timeout window. "
           "See https://dpgr.am/net0001")
