"""What an engine does itself, declared by the engine: the stages around recognizers (text,
level, option reporting) read this, so neither they nor the engines keep tables by engine name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Capabilities:
    """What an engine does itself, declared by it: the text stage, option reporting and the level
    stage read this instead of keeping tables by engine name."""

    options: frozenset[str] = frozenset()
    """Deepgram options it honours beyond the audio options every engine takes; ``None``-like
    ``all_options`` for an engine that honours its own (Deepgram)."""
    all_options: bool = False
    honoured_at: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    """Options honoured only at these values (Vosk ends utterances at its model's 0.5 s)."""
    hears_words: bool = True
    """Its text is speech (echo's byte counts are not): Korean writing rules apply."""
    writes_korean: bool = False
    """It writes Korean as written (eojeol, punctuation, digits): nothing to re-space."""
    auto_gain: bool = False
    """Quiet input is raised before it (``StreamConfig.auto_gain``): set where measured to help
    (``benchmarks/levels.py``)."""
