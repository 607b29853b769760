"""Engines behind one interface, chosen by name or by language (``engine="auto"``)."""

from __future__ import annotations

import threading
from typing import Callable

from ..errors import UnknownEngineError, UnsupportedLanguageError
from .base import Engine, EngineStream

OFFLINE_BY_LANGUAGE = {"ko": "vosk", "en": "whisper"}


def _vosk(model: str | None) -> Engine:
    from .vosk import VoskEngine

    return VoskEngine(model)


def _whisper(model: str | None) -> Engine:
    from .whisper import WhisperEngine

    return WhisperEngine(model)


def _deepgram(model: str | None) -> Engine:
    from .deepgram import DeepgramEngine

    return DeepgramEngine(model)


def _echo(model: str | None) -> Engine:
    from .echo import EchoEngine

    return EchoEngine(model)


FACTORIES: dict[str, Callable[[str | None], Engine]] = {"vosk": _vosk, "whisper": _whisper, "deepgram": _deepgram,
                                                         "echo": _echo}

_cache: dict[tuple[str, str | None], Engine] = {}
_lock = threading.Lock()


def deepgram_key_available() -> bool:
    from .deepgram import read_key

    return bool(read_key())


def choose_engine_name(engine: str, language: str) -> str:
    """The engine ``auto`` means for this language, or ``engine`` checked against the known ones."""
    if engine != "auto":
        if engine not in FACTORIES:
            raise UnknownEngineError(f"Unknown engine {engine!r}.",
                                     hint=f"Choose one of: auto, {', '.join(sorted(FACTORIES))} (echo is a diagnostic engine).")
        return engine
    if "deepgram" in FACTORIES and deepgram_key_available():
        return "deepgram"
    base = language.split("-")[0].lower()
    if base not in OFFLINE_BY_LANGUAGE:
        raise UnsupportedLanguageError(
            f"No offline engine knows language {language!r} (offline: {', '.join(OFFLINE_BY_LANGUAGE)}).",
            hint="Set DEEPGRAM_API_KEY for the cloud engine, or pass model='/path/to/a/vosk/model' with engine='vosk'.")
    return OFFLINE_BY_LANGUAGE[base]


def get_engine(engine: str = "auto", language: str = "ko", model: str | None = None) -> Engine:
    """A shared engine instance (so its model is loaded once per process)."""
    name = choose_engine_name(engine, language)
    key = (name, model)
    with _lock:
        if key not in _cache:
            _cache[key] = FACTORIES[name](model)
        instance = _cache[key]
    if not instance.supports(language):
        raise UnsupportedLanguageError(
            f"The {name} engine does not know language {language!r} (it knows: {', '.join(instance.languages)}).",
            hint="Choose engine='auto' to pick by language, or pass a model for that language.")
    return instance


__all__ = ["Engine", "EngineStream", "get_engine", "choose_engine_name", "FACTORIES", "OFFLINE_BY_LANGUAGE"]
