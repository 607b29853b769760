"""The widget's comm wire, sans-I/O: the page's messages → commands (:func:`commands`,
:class:`PageCodec`), and what the live view is told, and how often (:class:`Outbox`). No widgets.

Engines emit interims far faster than a person reads them, and the kernel's IOPub channel drops
comm messages past ~1000/s, so events are coalesced into at most one ``update`` message per
interval: the latest interim only, every final, every mark and error.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, Union

from .. import incoming
from ..errors import ErrorCode
from ..events import Error, Event, Final, Interim, SpeechStarted, UtteranceEnd
from ..transcript import Transcript
from ..wire.vocabulary import (DEFAULT_MAX_FRAME_BYTES, Audio, Command, Outcome, ProtocolError, Start, Stop, pcm_or_error,
                               too_large)

PAGE_ERRORS = {ErrorCode.DEVICE_ERROR, ErrorCode.AUDIO_FORMAT_ERROR}  # what a page may report of itself


@dataclass(frozen=True)
class Hello:
    """A view (re)opened: it wants everything heard so far (:func:`snapshot`)."""


@dataclass(frozen=True)
class Encoded:
    """Compressed audio from the page (``transport="opus"``: WebM/Opus chunks), for the kernel to decode."""

    data: bytes
    timestamp: float | None = None


PageCommand = Union[Command, Hello, Encoded]


def commands(content: Any, buffers: Sequence[bytes], max_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> list[PageCommand]:
    """One comm message from the page → what it asks. Never raises, whatever the message.

    ``audio`` carries PCM16 frames as binary buffers (``t``: the page's send time, ms since the
    epoch); ``start``/``stop`` bracket a recording; ``error`` is the page failing to capture
    (permission, no device, insecure context); ``hello`` asks for the transcript so far."""
    kind = content.get("type") if isinstance(content, dict) else None
    if kind == "audio":
        sent = _epoch_seconds(content.get("t"))
        if content.get("container") is True:
            return [Encoded(data, sent) if len(data) <= max_bytes else too_large(len(data), max_bytes)
                    for data in buffers if data]
        checked = [pcm_or_error(pcm, max_bytes) for pcm in buffers if pcm]
        return [Audio(c.pcm, timestamp=sent) if isinstance(c, Audio) else c for c in checked]
    if kind == "start":
        return [Start()]  # the widget's own engine, language and options: the page chooses nothing
    if kind == "stop":
        return [Stop()]
    if kind == "hello":
        return [Hello()]
    if kind == "error":
        code = content.get("code")
        message = content.get("message")
        return [ProtocolError(code if isinstance(code, str) and code in PAGE_ERRORS else ErrorCode.DEVICE_ERROR,
                              message[:500] if isinstance(message, str) else "The page could not capture audio.")]
    return [ProtocolError(ErrorCode.INVALID_MESSAGE, "Unknown widget message type.",
                          {"expected": ["start", "audio", "stop", "hello", "error"]})]


class PageCodec:
    """The page's messages (``(content, buffers)``) → commands, as every wire's codec: with
    ``opus``, a recording's WebM/Opus is decoded to PCM16 as it comes (told once if it is not
    audio), and its decoder's last samples go before the Stop. Outcomes pass through as they are:
    the widget coalesces them for the view (:class:`Outbox`)."""

    def __init__(self, opus: bool = False, max_bytes: int = DEFAULT_MAX_FRAME_BYTES):
        self.opus, self.max_bytes = opus, max_bytes
        self._audio: incoming.ContainerDecoder | None = None

    def commands(self, message: tuple[Any, Sequence[bytes]]) -> list[PageCommand]:
        out: list[PageCommand] = []
        for command in commands(*message, max_bytes=self.max_bytes):
            if isinstance(command, Encoded):
                out += self._decode(command)
            elif isinstance(command, Start):
                self._audio = incoming.decoder(None) if self.opus else None
                out.append(command)
            elif isinstance(command, Stop):
                decoder, self._audio = self._audio, None
                if decoder is not None and not decoder.error and (tail := decoder.end()):
                    out.append(Audio(tail))
                out.append(command)
            else:
                out.append(command)
        return out

    def _decode(self, command: Encoded) -> list[PageCommand]:
        if self._audio is None or self._audio.error:
            return []
        pcm = self._audio.feed(command.data)
        if self._audio.error:
            return [ProtocolError(ErrorCode.AUDIO_FORMAT_ERROR, f"The page's audio could not be read: {self._audio.error}.")]
        return [Audio(pcm, timestamp=command.timestamp)] if pcm else []

    def render(self, outcome: Outcome) -> list[Outcome]:
        return [outcome]

    def close_code(self, why: str) -> tuple[int, str]:
        return 1000, why


def final_to_view(final: Final, utterance: int) -> dict[str, Any]:
    """A final as the browser draws it: words as ``[text, start, end, confidence]``, and the
    utterance it belongs to (the view draws one line per utterance, as the utterances table)."""
    return {"text": final.text, "start": round(final.start, 3), "end": round(final.end, 3), "utterance": utterance,
            "confidence": round(final.confidence, 4), "speech_final": final.speech_final,
            "words": [[w.display, round(w.start, 3), round(w.end, 3), round(w.confidence, 4)]
                      for w in final.words]}


def interim_to_view(interim: Interim | None) -> dict[str, Any] | None:
    if interim is None:
        return None
    return {"text": interim.text, "start": round(interim.start, 3), "end": round(interim.end, 3)}


def mark_to_view(event: Event) -> list[Any] | None:
    if isinstance(event, SpeechStarted):
        return ["speech_started", round(event.timestamp, 3)]
    if isinstance(event, UtteranceEnd):
        return ["utterance_end", round(event.last_word_end, 3)]
    return None


def _epoch_seconds(ms: Any) -> float | None:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not -1e15 < ms < 1e15:  # NaN fails too
        return None
    return ms / 1000


class Outbox:
    """Events waiting for the next ``update`` message."""

    def __init__(self) -> None:
        self.finals: list[dict[str, Any]] = []
        self.marks: list[list[Any]] = []
        self.errors: list[dict[str, str]] = []
        self.interim: dict[str, Any] | None = None
        self.interim_changed = False
        self.level: float | None = None

    def add(self, event: Event, utterance: int = 0) -> None:
        """Queue ``event``; a final's ``utterance`` is its row in the transcript's utterances table."""
        if isinstance(event, Interim):
            self.interim, self.interim_changed = interim_to_view(event), True
        elif isinstance(event, Final):
            self.finals.append(final_to_view(event, utterance))
            self.interim, self.interim_changed = None, True  # a final settles the open span
        elif isinstance(event, Error):
            self.errors.append({"code": event.code, "message": event.message})
        elif (mark := mark_to_view(event)) is not None:
            self.marks.append(mark)

    def __bool__(self) -> bool:
        return bool(self.finals or self.marks or self.errors or self.interim_changed or self.level is not None)

    def drain(self) -> dict[str, Any] | None:
        """The pending ``update`` message (None when nothing changed); empties the box."""
        if not self:
            return None
        message: dict[str, Any] = {"type": "update"}
        if self.finals:
            message["finals"] = self.finals
        if self.marks:
            message["marks"] = self.marks
        if self.errors:
            message["errors"] = self.errors
        if self.interim_changed:
            message["interim"] = self.interim
        if self.level is not None:
            message["level"] = round(self.level, 1)
        self.__init__()  # type: ignore[misc]
        return message


def snapshot(transcript: Transcript) -> dict[str, Any]:
    """Everything a freshly loaded view needs to draw what was heard so far."""
    box = Outbox()
    for event in transcript.events:
        if not isinstance(event, (Interim, Final)):
            box.add(event)
    finals = [final_to_view(f, i) for i, group in enumerate(transcript.utterance_finals) for f in group]
    return {"type": "snapshot", "finals": finals, "marks": box.marks, "errors": box.errors,
            "interim": interim_to_view(transcript.interim)}
