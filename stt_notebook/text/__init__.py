"""The text stage: what every engine's words go through before anyone reads them.

One place, applied where events leave the engine (in :class:`~stt_notebook.session.Session`), so
the Transcript, every wire and the widget see the same words: written Korean (eojeol spacing,
numerals), and Deepgram's text options (``replace``, ``search``, ``profanity_filter``) for the
offline engines. Deepgram's cloud does all of this itself, so its words pass unchanged. An option
that neither the engine nor this stage honours is reported once, by name.
"""

from __future__ import annotations

import concurrent.futures
import logging
import warnings
from dataclasses import fields, replace
from typing import Iterable

from ..config import StreamConfig
from ..capabilities import Capabilities
from ..events import Event, Final, Interim, Word, join_words, mean_confidence
from ..loaded import base_language
from . import korean, options

log = logging.getLogger(__name__)

BY_STAGE = {"smart_format", "numerals", "replace", "search", "profanity_filter"}
# the audio options every engine takes, and what only labels a stream
ALWAYS = {"language", "model", "encoding", "sample_rate", "channels", "interim_results", "utterance_end_ms",
          "vad_events", "mip_opt_out", "tag", "extra", "version", "auto_gain"}


class UnsupportedOptionWarning(UserWarning):
    """A stream option this engine cannot honour offline (it is not silently dropped)."""


_reported: set[tuple[str, str]] = set()


def unsupported(config: StreamConfig, engine: str, caps: Capabilities) -> list[str]:
    """The options set away from their defaults that ``engine`` and the text stage cannot honour."""
    if caps.all_options:
        return []  # deepgram honours its own options
    default = StreamConfig(language=config.language)
    as_is = dict(caps.honoured_at)
    changed = [f.name for f in fields(StreamConfig) if getattr(config, f.name) != getattr(default, f.name)
               and getattr(config, f.name) not in as_is.get(f.name, ())]
    return sorted(set(changed) - ALWAYS - BY_STAGE - caps.options)


def report_unsupported(config: StreamConfig, engine: str, caps: Capabilities) -> list[str]:
    """Warn once per process for each option ``engine`` cannot honour; returns them all."""
    names = unsupported(config, engine, caps)
    for name in names:
        if (engine, name) not in _reported:
            _reported.add((engine, name))
            message = f"the {engine} engine cannot honour {name}={getattr(config, name)!r} offline; it has no effect"
            if name in ("keyterm", "keywords"):
                message += " (Vosk has no keyword boosting; the whisper engine and Deepgram have)"
            elif name == "endpointing":
                message += " (Vosk ends an utterance after its model's 0.5 s of silence; the whisper engine takes endpointing)"
            log.warning(message)
            warnings.warn(message, UnsupportedOptionWarning, stacklevel=3)
    return names


def prepare(language: str, caps: Capabilities) -> None:
    """Start loading what the stage needs for this language, beside the engine (not waited for)."""
    if _spaces_korean(caps) and base_language(language) == "ko":
        korean.Spacer.loading()


def _spaces_korean(caps: Capabilities) -> bool:
    """Korean words to be spaced into eojeol: speech, from a recognizer that writes morphemes apart."""
    return caps.hears_words and not caps.writes_korean and not caps.all_options


class TextStage:
    """Rewrites one stream's Interim and Final events as the config asks."""

    def __init__(self, config: StreamConfig, engine: str, caps: Capabilities):
        self.config = config
        self.caps = caps
        self.active = not caps.all_options  # Deepgram applies its own options
        self.korean = config.base_language == "ko" and caps.hears_words
        self.numerals = config.numerals or config.smart_format
        # orthography, not formatting: spaced whatever smart_format says, as Deepgram's Korean is
        self.spacing = self.korean and _spaces_korean(caps)
        self.pairs = options.parse_pairs(config.replace)
        self.unsupported = report_unsupported(config, engine, caps)

    def waits_for(self, event: Event) -> concurrent.futures.Future | None:
        """What must be loaded before ``event`` can be rewritten: a Final waits for the Korean
        spacer (the caller awaits this instead of blocking its loop); an early Interim does not."""
        if self.active and self.spacing and isinstance(event, Final) and not korean.Spacer.loading().done():
            return korean.Spacer.loading()
        return None

    def words(self, tokens: Iterable[Word], interim: bool = False) -> list[Word]:
        words = list(tokens)
        if self.korean:
            words = korean.numerals(words) if self.numerals else [w for w in map(korean.spoken, words) if w.text]
            if self.spacing and not (interim and not korean.Spacer.loading().done()):  # first interims: unspaced
                words = korean.spaced_words(words, korean.Spacer.shared())
        words = options.replace_words(words, self.pairs)
        if self.config.profanity_filter:
            words = options.censor(words, self.config.base_language)
        return words

    def apply(self, event: Event) -> Event:
        if not self.active:
            return event
        if isinstance(event, Final):
            words = self.words(event.words)
            changed = [w.text for w in words] != [w.text for w in event.words]
            return replace(event, text=join_words(words) if words or event.words else event.text,
                           words=tuple(words), confidence=mean_confidence(words) if words else event.confidence,
                           tokens=event.words if changed else (), search=options.search(words, self.config.search))
        if isinstance(event, Interim):
            words = self.words(event.words or [Word(t, event.start, event.end, event.confidence)
                                               for t in event.text.split()], interim=True)
            return replace(event, text=join_words(words), words=tuple(words) if event.words else ())
        return event
