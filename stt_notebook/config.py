"""``StreamConfig``: one stream's options, under Deepgram's live option names.

A Deepgram user finds their habits here; offline engines honour what they can
(language, model, interim_results, endpointing, utterance_end_ms, vad_events, sample_rate)
and ignore the cloud-only options.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import ConfigError, shown
from .loaded import base_language

# Deepgram's encodings the server decodes (incoming.py); no encoding: WebM, Ogg, WAV, FLAC, MP3, AAC, MP4
ENCODINGS = ("linear16", "linear32", "mulaw", "alaw", "opus", "ogg-opus", "flac")

SAMPLE_RATE = 16000
LOCAL_OPTIONS = frozenset({"auto_gain"})  # this project's own options: never sent to Deepgram
MAX_TEXT = 256  # characters in one text option (a language, a model name, a search phrase)
MAX_LIST = 100  # strings in one list option (keyterm, search, replace, …)
_FLAGS = {"auto_gain", "multichannel", "interim_results", "punctuate", "smart_format", "no_delay", "numerals", "profanity_filter",
          "filler_words", "dictation", "diarize", "detect_entities", "vad_events", "mip_opt_out"}
_TEXTS = {"language", "model", "version"}
_LISTS = {"redact", "keywords", "keyterm", "search", "replace", "tag"}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class StreamConfig:
    language: str = "ko"
    model: str | None = None
    encoding: str | None = "linear16"  # None: a container or stream format, found from its first bytes
    sample_rate: int = SAMPLE_RATE
    channels: int = 1
    multichannel: bool = False
    interim_results: bool = True
    punctuate: bool = True
    smart_format: bool = True
    no_delay: bool = False
    numerals: bool = False
    profanity_filter: bool = False
    filler_words: bool = False
    dictation: bool = False
    diarize: bool = False
    detect_entities: bool = False
    vad_events: bool = True
    endpointing: int | bool | None = None
    """Silence in ms that ends an utterance (speech_final); ``None`` = engine default, ``False`` = off."""
    utterance_end_ms: int | None = 1000
    redact: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    keyterm: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    extra: dict[str, str] = field(default_factory=dict, hash=False)
    version: str | None = None
    mip_opt_out: bool = False
    auto_gain: bool = True
    """Ours, not Deepgram's: raise quiet speech before an offline engine that needs it
    (:mod:`stt_notebook.level`). Never sent to Deepgram."""

    def __post_init__(self) -> None:
        """Every option's type and range, checked here once for every wire: a client's
        ``"1500"``, ``1e400`` or a megabyte of text is an INVALID_CONFIG, never a crash later."""
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _LISTS:
                items = (value,) if isinstance(value, str) else value
                if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
                    raise ConfigError(f"{f.name} must be a string or a list of strings, not {shown(value)}.")
                if len(items) > MAX_LIST or any(len(v) > MAX_TEXT for v in items):
                    raise ConfigError(f"{f.name} takes at most {MAX_LIST} strings of {MAX_TEXT} characters.")
                object.__setattr__(self, f.name, tuple(items))
            elif f.name in _FLAGS and not isinstance(value, bool):
                raise ConfigError(f"{f.name} must be true or false, not {shown(value)}.")
            elif f.name in _TEXTS and not (value is None and f.default is None) and (
                    not isinstance(value, str) or not 0 < len(value) <= MAX_TEXT):
                raise ConfigError(f"{f.name} must be a non-empty string of at most {MAX_TEXT} characters, "
                                  f"not {shown(value)}.")
        for name, low, high in (("sample_rate", 8000, 192000), ("channels", 1, 8)):
            if not _is_int(getattr(self, name)) or not low <= getattr(self, name) <= high:
                raise ConfigError(f"{name} must be an integer from {low} to {high}, not {shown(getattr(self, name))}.")
        if self.utterance_end_ms is not None and (not _is_int(self.utterance_end_ms)
                                                  or not 1000 <= self.utterance_end_ms <= 5000):
            raise ConfigError(f"utterance_end_ms must be an integer from 1000 to 5000, not {shown(self.utterance_end_ms)}.")
        if not (self.endpointing is None or isinstance(self.endpointing, bool)
                or (_is_int(self.endpointing) and 0 <= self.endpointing <= 60000)):
            raise ConfigError(f"endpointing must be milliseconds (0 to 60000), true or false, not {shown(self.endpointing)}.")
        if not isinstance(self.extra, dict) or len(self.extra) > MAX_LIST or not all(
                isinstance(k, str) and isinstance(v, str) and len(k) + len(v) <= MAX_TEXT for k, v in self.extra.items()):
            raise ConfigError(f"extra must map at most {MAX_LIST} names to strings, not {shown(self.extra)}.")
        if self.encoding is not None and self.encoding not in ENCODINGS:
            raise ConfigError(f"encoding {shown(self.encoding)} is not supported here.",
                              hint=f"Use one of {', '.join(ENCODINGS)}, or no encoding for WebM, Ogg, WAV, FLAC, MP3, "
                                   "AAC or MP4 (found from the audio itself).")

    @classmethod
    def check_names(cls, options: dict[str, Any]) -> None:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if not unknown:
            return
        names = [str(name)[:24] for name in unknown[:3]] + ([f"{len(unknown) - 3} more"] if len(unknown) > 3 else [])
        guesses = {name: difflib.get_close_matches(name, known, n=1, cutoff=0.75) for name in names}
        if all(guesses.values()):
            raise ConfigError(f"unknown option(s): {', '.join(names)}.",
                              hint=" ".join(f"Did you mean {g[0]!r} for {name!r}?" for name, g in guesses.items()))
        raise ConfigError(f"unknown option(s): {', '.join(names)}.", hint=f"Known options: {', '.join(sorted(known))}.")

    @classmethod
    def from_options(cls, **options: Any) -> "StreamConfig":
        """Build from keyword options, rejecting unknown names with the list of known ones."""
        cls.check_names(options)
        return cls(**options)

    def with_options(self, **options: Any) -> "StreamConfig":
        self.check_names(options)
        return replace(self, **options) if options else self

    @property
    def base_language(self) -> str:
        """'ko' for 'ko-KR': what offline engines choose models by."""
        return base_language(self.language)
