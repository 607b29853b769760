"""``StreamConfig``: one stream's options, under Deepgram's live option names.

A Deepgram user finds their habits here; offline engines honour what they can
(language, model, interim_results, endpointing, utterance_end_ms, vad_events, sample_rate)
and ignore the cloud-only options.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import ConfigError

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class StreamConfig:
    language: str = "ko"
    model: str | None = None
    encoding: str = "linear16"
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

    def __post_init__(self) -> None:
        if self.encoding != "linear16":
            raise ConfigError(f"encoding {self.encoding!r} is not supported here.",
                              hint="Send 16-bit little-endian PCM (encoding='linear16').")
        if not isinstance(self.sample_rate, int) or not 8000 <= self.sample_rate <= 192000:
            raise ConfigError(f"sample_rate must be an integer between 8000 and 192000, not {self.sample_rate!r}.")
        if not isinstance(self.channels, int) or not 1 <= self.channels <= 8:
            raise ConfigError(f"channels must be 1..8, not {self.channels!r}.")
        if self.utterance_end_ms is not None and not 1000 <= int(self.utterance_end_ms) <= 5000:
            raise ConfigError(f"utterance_end_ms must be 1000..5000, not {self.utterance_end_ms!r}.")
        if not self.language or not isinstance(self.language, str):
            raise ConfigError("language must be a language code such as 'ko' or 'en'.")
        for name in ("redact", "keywords", "keyterm", "search", "replace", "tag"):
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @classmethod
    def check_names(cls, options: dict[str, Any]) -> None:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options) - known)
        if not unknown:
            return
        guesses = {name: difflib.get_close_matches(name, known, n=1, cutoff=0.75) for name in unknown}
        if all(guesses.values()):
            raise ConfigError(f"unknown option(s): {', '.join(unknown)}.",
                              hint=" ".join(f"Did you mean {g[0]!r} for {name!r}?" for name, g in guesses.items()))
        raise ConfigError(f"unknown option(s): {', '.join(unknown)}.", hint=f"Known options: {', '.join(sorted(known))}.")

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
        return self.language.split("-")[0].lower()
