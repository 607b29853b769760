"""``Transcript``: events collected live, viewed as pandas DataFrames, plots and subtitle files.

Interims replace each other; finals append and never change; a ``speech_final`` final closes an
utterance. The DataFrames are rebuilt on access, so they grow while a session is recording.
"""

from __future__ import annotations

import html
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .events import (Error, Event, Final, Interim, SpeechStarted, UtteranceEnd, Word, from_wire,
                     join_words, mean_confidence, to_wire)
from .level import InputLevel

FORMAT_VERSION = 1
LOW_CONFIDENCE = 0.6
"""Words below this confidence are marked as doubtful: in ``plot_confidence`` and the live view's timeline."""
UTTERANCE_COLUMNS = ["utterance", "start", "end", "text", "confidence", "speaker", "n_words", "language"]
WORD_COLUMNS = ["utterance", "word", "start", "end", "confidence", "speaker"]
INTERIM_COLUMNS = ["seq", "utterance", "text", "start", "end", "confidence"]
SEARCH_COLUMNS = ["utterance", "query", "start", "end", "confidence", "snippet"]


class Transcript:
    """What a session heard. ``t.utterances``, ``t.words``, ``t.interims`` are DataFrames."""

    def __init__(self, events: Iterable[Event] = (), *, language: str | None = None,
                 engine: str | None = None, source: str | None = None):
        self.language, self.engine, self.source = language, engine, source
        self.input_level: InputLevel | None = None  # the input's speech level and gain, once a session ends
        self.events: list[Event] = []
        self.finals: list[Final] = []
        self.interim: Interim | None = None
        self.errors: list[Error] = []
        self._utterances: list[list[Final]] = []
        self._open = False  # the last utterance still takes finals
        self._interim_log: list[tuple[int, Interim]] = []
        for event in events:
            self.add(event)

    # -- building --
    def add(self, event: Event) -> None:
        self.events.append(event)
        if isinstance(event, Interim):
            self.interim = event
            self._interim_log.append((self._current_index(), event))
        elif isinstance(event, Final):
            self.interim = None
            self.finals.append(event)
            if self._open:
                self._utterances[-1].append(event)
            else:
                self._utterances.append([event])
            self._open = not event.speech_final
        elif isinstance(event, UtteranceEnd):
            self._open = False
        elif isinstance(event, Error):
            self.errors.append(event)

    def _current_index(self) -> int:
        return len(self._utterances) - 1 if self._open else len(self._utterances)

    # -- text --
    @property
    def text(self) -> str:
        """All settled text, one utterance per line."""
        return "\n".join(join_words([w for f in u for w in f.words]) or " ".join(f.text for f in u)
                         for u in self._utterances)

    @property
    def speech_starts(self) -> list[float]:
        return [e.timestamp for e in self.events if isinstance(e, SpeechStarted)]

    @property
    def utterance_ends(self) -> list[float]:
        return [e.last_word_end for e in self.events if isinstance(e, UtteranceEnd)]

    @property
    def duration(self) -> float:
        return max((f.end for f in self.finals), default=0.0)

    def __len__(self) -> int:
        return len(self._utterances)

    @property
    def utterance_finals(self) -> list[list[Final]]:
        """The finals grouped as the utterances table groups them (a copy)."""
        return [list(finals) for finals in self._utterances]

    # -- DataFrames --
    @property
    def utterances(self) -> pd.DataFrame:
        rows = []
        for i, finals in enumerate(self._utterances):
            words = [w for f in finals for w in f.words]
            speakers = Counter(w.speaker for w in words if w.speaker is not None)
            rows.append({
                "utterance": i,
                "start": finals[0].start,
                "end": finals[-1].end,
                "text": join_words(words) if words else " ".join(f.text for f in finals),
                "confidence": mean_confidence(words) if words else mean_confidence_of(finals),
                "speaker": speakers.most_common(1)[0][0] if speakers else None,
                "n_words": len(words),
                "language": next((f.language for f in finals if f.language),
                                 None if self.language == "multi" else self.language),
            })
        return _frame(rows, UTTERANCE_COLUMNS)

    @property
    def words(self) -> pd.DataFrame:
        rows = [_word_row(i, w) for i, finals in enumerate(self._utterances) for f in finals for w in f.words]
        return _frame(rows, WORD_COLUMNS)

    @property
    def tokens(self) -> pd.DataFrame:
        """The recognizer's own words before the text stage (Korean morphemes, marked numbers):
        the same columns as ``words``; where the stage changed nothing, the words themselves."""
        rows = [_word_row(i, w) for i, finals in enumerate(self._utterances) for f in finals for w in (f.tokens or f.words)]
        return _frame(rows, WORD_COLUMNS)

    @property
    def search(self) -> pd.DataFrame:
        """Hits of the ``search`` option: query, start, end, confidence, snippet, utterance."""
        rows = [{"utterance": i, "query": r.query, "start": h.start, "end": h.end, "confidence": h.confidence,
                 "snippet": h.snippet}
                for i, finals in enumerate(self._utterances) for f in finals for r in f.search for h in r.hits]
        return _frame(rows, SEARCH_COLUMNS)

    @property
    def interims(self) -> pd.DataFrame:
        """Every interim hypothesis in arrival order: how the text formed."""
        rows = [{"seq": n, "utterance": u, "text": e.text, "start": e.start, "end": e.end,
                 "confidence": e.confidence} for n, (u, e) in enumerate(self._interim_log)]
        return _frame(rows, INTERIM_COLUMNS)

    # -- plots --
    def plot_confidence(self, ax=None, low: float = LOW_CONFIDENCE):
        """Word confidence over time; utterances shaded, words below ``low`` marked and labelled."""
        from .fonts import plot_fonts

        with plot_fonts():  # Hangul labels need a font that has them
            return self._plot_confidence(ax, low)

    def _plot_confidence(self, ax, low: float):
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots(figsize=(10, 3.2), layout="constrained")
        words = self.words
        for _, u in self.utterances.iterrows():
            ax.axvspan(u["start"], u["end"], color="tab:blue", alpha=0.08, lw=0)
        if len(words):
            mid = (words["start"] + words["end"]) / 2
            ax.plot(mid, words["confidence"], "-", color="tab:blue", lw=1, alpha=0.5)
            ax.scatter(mid, words["confidence"], s=14, color="tab:blue", zorder=3, label="word")
            weak = words[words["confidence"] < low]
            weak_mid = (weak["start"] + weak["end"]) / 2
            ax.scatter(weak_mid, weak["confidence"], s=40, facecolors="none", edgecolors="tab:red",
                       zorder=4, label=f"confidence < {low:g}")
            for x, (_, w) in zip(weak_mid, weak.iterrows()):
                ax.annotate(w["word"], (x, w["confidence"]), textcoords="offset points", xytext=(0, -12),
                            ha="center", fontsize=8, color="tab:red")
        ax.axhline(low, color="tab:red", lw=0.6, ls=":", label=f"threshold {low:g}")
        ax.legend(loc="lower right", fontsize=8)
        ax.set_ylim(-0.05, 1.05)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("confidence")
        ax.set_title("Word confidence" + (f" — {self.source}" if self.source else ""))
        return ax

    # -- exports --
    def to_srt(self, max_seconds: float = 6.0, max_chars: int = 84) -> str:
        cues = self._cues(max_seconds, max_chars)
        return "\n".join(f"{n}\n{_ts(a, ',')} --> {_ts(b, ',')}\n{text}\n" for n, (a, b, text) in enumerate(cues, 1))

    def to_vtt(self, max_seconds: float = 6.0, max_chars: int = 84) -> str:
        cues = self._cues(max_seconds, max_chars)
        return "WEBVTT\n\n" + "\n".join(f"{_ts(a, '.')} --> {_ts(b, '.')}\n{text}\n" for a, b, text in cues)

    def _cues(self, max_seconds: float, max_chars: int) -> list[tuple[float, float, str]]:
        cues = []
        for finals in self._utterances:
            words = [w for f in finals for w in f.words]
            if not words:
                cues.append((finals[0].start, finals[-1].end, " ".join(f.text for f in finals)))
                continue
            chunk: list[Word] = []
            for w in words:
                if chunk and (w.end - chunk[0].start > max_seconds or len(join_words(chunk + [w])) > max_chars):
                    cues.append((chunk[0].start, chunk[-1].end, join_words(chunk)))
                    chunk = []
                chunk.append(w)
            cues.append((chunk[0].start, chunk[-1].end, join_words(chunk)))
        return cues

    def to_dict(self) -> dict[str, Any]:
        return {"format": "stt-notebook/transcript", "version": FORMAT_VERSION, "language": self.language,
                "engine": self.engine, "source": self.source,
                "events": [_without_timestamp(to_wire(e)) for e in self.events]}

    def to_json(self, path: str | os.PathLike | None = None, **kwargs: Any) -> str:
        text = json.dumps(self.to_dict(), ensure_ascii=False, **kwargs)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_json(cls, data: str | bytes | os.PathLike | dict[str, Any]) -> "Transcript":
        """Load what :meth:`to_json` wrote: a JSON string, a dict, or a file path."""
        if isinstance(data, os.PathLike) or (isinstance(data, str) and not data.lstrip().startswith("{")):
            data = Path(data).read_text(encoding="utf-8")
        d = json.loads(data) if isinstance(data, (str, bytes)) else data
        if d.get("format") != "stt-notebook/transcript":
            raise ValueError("not an stt-notebook transcript (missing format marker)")
        return cls((from_wire(e) for e in d["events"]), language=d.get("language"),
                   engine=d.get("engine"), source=d.get("source"))

    save = to_json

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Transcript":
        return cls.from_json(Path(path))

    # -- display --
    def __repr__(self) -> str:
        head = f"<Transcript {self.engine or '?'} {self.language or '?'}: {len(self)} utterances, " \
               f"{sum(len(f.words) for f in self.finals)} words, {self.duration:.1f}s"
        if self.errors:
            head += f", {len(self.errors)} errors"
        preview = self.text.replace("\n", " / ")
        return head + (f" — {preview[:80]}{'…' if len(preview) > 80 else ''}>" if preview else ">")

    def _repr_html_(self) -> str:
        rows = []
        for _, u in self.utterances.iterrows():
            rows.append(f"<tr><td>{u['start']:.2f}–{u['end']:.2f}s</td><td>{u['confidence']:.2f}</td>"
                        f"<td>{html.escape(u['text'])}</td></tr>")
        live = f"<p><i>{html.escape(self.interim.text)}</i></p>" if self.interim else ""
        errors = "".join(f"<p style='color:#b00'>{html.escape(e.code)}: {html.escape(e.message)}</p>"
                         for e in self.errors)
        return (f"<div><b>Transcript</b> — {html.escape(self.engine or '?')}, {html.escape(self.language or '?')}, "
                f"{len(self)} utterances, {self.duration:.1f}s"
                f"<table><tr><th>time</th><th>conf.</th><th>text</th></tr>{''.join(rows)}</table>{live}{errors}</div>")


def mean_confidence_of(finals: list[Final]) -> float:
    return sum(f.confidence for f in finals) / len(finals) if finals else 0.0


def _word_row(utterance: int, w: Word) -> dict[str, Any]:
    return {"utterance": utterance, "word": w.display, "start": w.start, "end": w.end, "confidence": w.confidence,
            "speaker": w.speaker}


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=columns)
    return df.astype({c: "Int64" for c in ("speaker",) if c in columns}) if "speaker" in columns else df


def _ts(seconds: float, sep: str) -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _without_timestamp(frame: dict[str, Any]) -> dict[str, Any]:
    """Saved frames drop the wall-clock send time (speech_started's timestamp is stream time)."""
    if frame["type"] != "speech_started":
        frame.pop("timestamp", None)
    return frame
