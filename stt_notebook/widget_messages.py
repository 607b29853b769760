"""What the live view is told, and how often. Pure: no widgets, no threads.

Engines emit interims far faster than a person reads them, and the kernel's IOPub channel drops
comm messages past ~1000/s, so events are coalesced into at most one ``update`` message per
interval: the latest interim only, every final, every mark and error.
"""

from __future__ import annotations

from typing import Any, Iterable

from .events import Error, Event, Final, Interim, SpeechStarted, UtteranceEnd


def final_to_view(final: Final) -> dict[str, Any]:
    """A final as the browser draws it: words as ``[text, start, end, confidence]``."""
    return {"text": final.text, "start": round(final.start, 3), "end": round(final.end, 3),
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


class Outbox:
    """Events waiting for the next ``update`` message."""

    def __init__(self) -> None:
        self.finals: list[dict[str, Any]] = []
        self.marks: list[list[Any]] = []
        self.errors: list[dict[str, str]] = []
        self.interim: dict[str, Any] | None = None
        self.interim_changed = False
        self.level: float | None = None

    def add(self, event: Event) -> None:
        if isinstance(event, Interim):
            self.interim, self.interim_changed = interim_to_view(event), True
        elif isinstance(event, Final):
            self.finals.append(final_to_view(event))
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


def snapshot(events: Iterable[Event], interim: Interim | None) -> dict[str, Any]:
    """Everything a freshly loaded view needs to draw what was heard so far."""
    box = Outbox()
    for event in events:
        if not isinstance(event, Interim):
            box.add(event)
    return {"type": "snapshot", "finals": box.finals, "marks": box.marks, "errors": box.errors,
            "interim": interim_to_view(interim)}
