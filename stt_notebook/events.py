"""The typed event model and its ``/ws/stt`` wire form (both directions). Pure: no I/O.

Times are seconds of stream audio; confidences are 0..1. The JSONL the CLI prints and the
frames the relay sends are exactly :func:`to_wire` of these events.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from typing import Any, Union


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float
    end: float
    confidence: float
    speaker: int | None = None
    punctuated: str | None = None

    @property
    def display(self) -> str:
        """What a reader sees: the punctuated form when the engine gave one."""
        return self.punctuated or self.text


@dataclass(frozen=True, slots=True)
class Interim:
    """Text of the open span so far; replaces the previous interim."""

    text: str
    confidence: float
    start: float
    end: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True, slots=True)
class SearchHit:
    """Where a ``search`` query was heard (Deepgram's hit: confidence, start, end, snippet)."""

    confidence: float
    start: float
    end: float
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    hits: tuple[SearchHit, ...] = ()


@dataclass(frozen=True, slots=True)
class Final:
    """Settled text: never changes again. ``speech_final`` closes the utterance.

    ``tokens``: the recognizer's own words where the text stage rewrote them (Korean morphemes
    before spacing, marked numbers), for research; ``search``: hits of the ``search`` option."""

    text: str
    confidence: float
    start: float
    end: float
    words: tuple[Word, ...] = ()
    speech_final: bool = False
    from_finalize: bool = False
    tokens: tuple[Word, ...] = ()
    search: tuple[SearchResult, ...] = ()
    language: str | None = None  # what was heard, where the engine tells (``language="multi"`` detects it)


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    timestamp: float


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    last_word_end: float


@dataclass(frozen=True, slots=True)
class Error:
    code: str
    message: str
    retry_after: float | None = None
    details: dict[str, Any] | None = field(default=None, hash=False)


Event = Union[Interim, Final, SpeechStarted, UtteranceEnd, Error]


def merged(words: list[Word], text: str, start: float | None = None, end: float | None = None) -> Word:
    """One word made of several (tokens joined into an eojeol, a replaced phrase): first start,
    last end (unless given: a piece of a token), and the lowest confidence: a word is as doubtful
    as its weakest part."""
    return Word(text, words[0].start if start is None else start, words[-1].end if end is None else end,
                min(w.confidence for w in words), words[0].speaker)


def mean_confidence(words: tuple[Word, ...] | list[Word]) -> float:
    return sum(w.confidence for w in words) / len(words) if words else 0.0


# scripts written without spaces between words (Han, kana, CJK punctuation, Thai, Lao, Tibetan,
# Myanmar, Khmer): Whisper's words there are pieces of one run of text
UNSPACED = re.compile("[\u0e00-\u0fff\u1000-\u109f\u1780-\u17ff\u3000-\u30ff\u31f0-\u31ff"
                      "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff01-\uff9f\U00020000-\U0002ffff]")


def separator(before: str, after: str) -> str:
    """What goes between two written words: nothing before a piece such as "-mutton", "'s" or a
    mark, nor between two words of a script written without spaces (今日は + 天気), else a space."""
    if not before or not after or after[0] in "-'’,.!?":
        return ""
    return "" if UNSPACED.match(before[-1]) and UNSPACED.match(after[0]) else " "


def join_words(words: tuple[Word, ...] | list[Word]) -> str:
    """Readable text from words, each joined to the one before by :func:`separator`."""
    out = ""
    for w in words:
        out += separator(out, w.display) + w.display
    return out


def shift(event: Event, offset: float) -> Event:
    """``event`` with every time moved by ``offset`` seconds (a reconnect's or a take's 0 → stream time)."""
    if not offset:
        return event

    def w(x: Word) -> Word:
        return replace(x, start=round(x.start + offset, 3), end=round(x.end + offset, 3))

    if isinstance(event, Final):
        hits = lambda r: SearchResult(r.query, tuple(  # noqa: E731
            SearchHit(h.confidence, round(h.start + offset, 3), round(h.end + offset, 3), h.snippet) for h in r.hits))
        return replace(event, start=round(event.start + offset, 3), end=round(event.end + offset, 3),
                       words=tuple(map(w, event.words)), tokens=tuple(map(w, event.tokens)),
                       search=tuple(map(hits, event.search)))
    if isinstance(event, Interim):
        return Interim(event.text, event.confidence, round(event.start + offset, 3), round(event.end + offset, 3),
                       tuple(map(w, event.words)))
    if isinstance(event, SpeechStarted):
        return SpeechStarted(round(event.timestamp + offset, 3))
    if isinstance(event, UtteranceEnd):
        return UtteranceEnd(round(event.last_word_end + offset, 3))
    return event


def _r(x: float) -> float:
    return round(float(x), 3)


def word_to_wire(w: Word) -> dict[str, Any]:
    d: dict[str, Any] = {"word": w.text, "start": _r(w.start), "end": _r(w.end),
                         "confidence": round(float(w.confidence), 4)}
    if w.speaker is not None:
        d["speaker"] = w.speaker
    if w.punctuated is not None:
        d["punctuated_word"] = w.punctuated
    return d


def word_from_wire(d: dict[str, Any]) -> Word:
    return Word(str(d["word"]), float(d["start"]), float(d["end"]), float(d.get("confidence", 0.0)),
                d.get("speaker"), d.get("punctuated_word"))


def search_to_wire(r: SearchResult) -> dict[str, Any]:
    """Deepgram's shape: ``{"query", "hits": [{"confidence", "start", "end", "snippet"}]}``."""
    return {"query": r.query, "hits": [{"confidence": round(h.confidence, 4), "start": _r(h.start), "end": _r(h.end),
                                        "snippet": h.snippet} for h in r.hits]}


def search_from_wire(d: dict[str, Any]) -> SearchResult:
    return SearchResult(str(d["query"]), tuple(SearchHit(float(h["confidence"]), float(h["start"]), float(h["end"]),
                                                         str(h.get("snippet", ""))) for h in d.get("hits", ())))


def to_wire(event: Event, timestamp: float | None = None) -> dict[str, Any]:
    """The server → client frame for ``event``. ``timestamp`` is wall-clock send time."""
    ts = time.time() if timestamp is None else timestamp
    if isinstance(event, (Interim, Final)):
        final = isinstance(event, Final)
        return {
            "type": "transcript_final" if final else "transcript_interim",
            "text": event.text,
            "confidence": round(float(event.confidence), 4),
            "is_final": final,
            "speech_final": bool(final and event.speech_final),
            "from_finalize": bool(final and event.from_finalize),
            "start": _r(event.start),
            "duration": _r(event.end - event.start),
            "timestamp": ts,
            "words": [word_to_wire(w) for w in event.words],
            **({"tokens": [word_to_wire(w) for w in event.tokens]} if final and event.tokens else {}),
            **({"search": [search_to_wire(r) for r in event.search]} if final and event.search else {}),
            **({"language": event.language} if final and event.language else {}),
        }
    if isinstance(event, SpeechStarted):
        return {"type": "speech_started", "timestamp": _r(event.timestamp)}
    if isinstance(event, UtteranceEnd):
        return {"type": "utterance_end", "last_word_end": _r(event.last_word_end), "timestamp": ts}
    if isinstance(event, Error):
        d = {"type": "error", "code": event.code, "message": event.message}
        if event.details:
            d["details"] = event.details
        if event.retry_after is not None:
            d["retry_after"] = event.retry_after
        return d
    raise TypeError(f"not an event: {event!r}")


def from_wire(d: dict[str, Any]) -> Event:
    """Inverse of :func:`to_wire`; raises ``ValueError`` on a frame that is not an event."""
    kind = d.get("type")
    try:
        if kind in ("transcript_interim", "transcript_final"):
            words = tuple(word_from_wire(w) for w in d.get("words", ()))
            start = float(d["start"])
            common = dict(text=str(d["text"]), confidence=float(d["confidence"]), start=start,
                          end=round(start + float(d["duration"]), 3), words=words)
            if kind == "transcript_final":
                return Final(**common, speech_final=bool(d.get("speech_final")),
                             from_finalize=bool(d.get("from_finalize")),
                             tokens=tuple(word_from_wire(w) for w in d.get("tokens", ())),
                             search=tuple(search_from_wire(r) for r in d.get("search", ())),
                             language=d["language"] if isinstance(d.get("language"), str) else None)
            return Interim(**common)
        if kind == "speech_started":
            return SpeechStarted(float(d["timestamp"]))
        if kind == "utterance_end":
            return UtteranceEnd(float(d["last_word_end"]))
        if kind == "error":
            return Error(str(d["code"]), str(d["message"]), d.get("retry_after"), d.get("details"))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"malformed {kind} frame: {e}") from e
    raise ValueError(f"unknown event type: {kind!r}")

