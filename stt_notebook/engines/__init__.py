"""Engines behind one interface, chosen by name or by language (``engine="auto"``)."""

from __future__ import annotations

import concurrent.futures
import difflib
import importlib
from typing import Callable, Iterable, NamedTuple

from .. import loaded
from ..config import StreamConfig
from ..loaded import base_language
from ..errors import UnknownEngineError, UnsupportedLanguageError, shown
from .base import Capabilities, Engine, EngineStream

OFFLINE_BY_LANGUAGE = {"ko": "whisper", "en": "whisper"}
# whisper's model when none is named: tiny.en for English (measured better there, benchmarks/engines.py),
# base (multilingual) for every other language Whisper knows
WHISPER_DEFAULT = {"en": "tiny.en"}
WHISPER_MULTILINGUAL = "base"


class Choice(NamedTuple):
    """The engine and model that serve a language, resolved once (:func:`choose`) and passed on:
    the session, the loader and the text stage read the same answer."""

    engine: str
    model: str | None
    language: str

    @property
    def key(self) -> tuple[str, str | None]:
        return self.engine, self.model


def default_model(engine: str, language: str, model: str | None) -> str | None:
    """The model an engine runs when the client named none."""
    if engine != "whisper" or model is not None:
        return model
    return WHISPER_DEFAULT.get(base_language(language), WHISPER_MULTILINGUAL)


def choose(engine: "str | Choice" = "auto", language: str = "ko", model: str | None = None, *,
           cloud: bool = True) -> Choice:
    """Which engine and model serve ``language`` (a :class:`Choice` is returned as it is)."""
    if isinstance(engine, Choice):
        return engine
    name = choose_engine_name(engine, language, cloud)
    return Choice(name, default_model(name, language, model), language)


_CLASSES = {"vosk": "VoskEngine", "whisper": "WhisperEngine", "deepgram": "DeepgramEngine", "echo": "EchoEngine"}


def _engine_class(name: str) -> type[Engine]:
    """The class of a built-in engine, imported on first use (each needs packages of its own)."""
    return getattr(importlib.import_module(f".{name}", __name__), _CLASSES[name])


FACTORIES: dict[str, Callable[[str | None], Engine]] = {
    name: (lambda model, name=name: _engine_class(name)(model)) for name in _CLASSES}


def capabilities(engine: str) -> Capabilities:
    """What the engine of this name declares it does itself (its class, not a loaded model)."""
    if engine not in _CLASSES:  # an engine registered by its user: the defaults, until it is made
        return Capabilities()
    return _engine_class(engine).capabilities


def deepgram_key_available() -> bool:
    from .deepgram import read_key

    return bool(read_key())


def choose_engine_name(engine: str, language: str, cloud: bool = True) -> str:
    """The engine ``auto`` means for this language, or ``engine`` checked against the known ones.
    ``cloud=False``: ``auto`` never means Deepgram (a server whose operator did not offer it)."""
    if engine != "auto":
        if engine not in FACTORIES:
            close = difflib.get_close_matches(engine, ["auto", *FACTORIES], n=1, cutoff=0.6)
            raise UnknownEngineError(f"Unknown engine {shown(engine)}." + (f" Did you mean engine={close[0]!r}?" if close else ""),
                                     hint=f"Choose one of: auto, {', '.join(sorted(FACTORIES))} (echo is a diagnostic engine).")
        return engine
    if cloud and "deepgram" in FACTORIES and deepgram_key_available():
        return "deepgram"
    base = base_language(language)
    if base in OFFLINE_BY_LANGUAGE:
        return OFFLINE_BY_LANGUAGE[base]
    if base in whisper_languages():
        return "whisper"
    raise UnsupportedLanguageError(
        f"No offline engine knows language {shown(language)} (offline: Whisper's languages, e.g. ko, en, es, ja).",
        hint="Set DEEPGRAM_API_KEY for the cloud engine, or pass model='/path/to/a/vosk/model' with engine='vosk'.")


def whisper_languages() -> set[str]:
    """The languages Whisper's multilingual models know, and ``multi`` (detected per utterance)."""
    try:
        from faster_whisper.tokenizer import _LANGUAGE_CODES
    except ImportError:
        return set()
    return {*_LANGUAGE_CODES, "multi"}


def get_engine(engine: "str | Choice" = "auto", language: str = "ko", model: str | None = None) -> Engine:
    """A shared engine instance (so its model is loaded once per process)."""
    choice = choose(engine, language, model)
    instance = loaded.shared(("engine", *choice.key), lambda: FACTORIES[choice.engine](choice.model))
    if not instance.supports(choice.language):
        raise UnsupportedLanguageError(
            f"The {choice.engine} engine does not know language {shown(choice.language)} (it knows: {', '.join(instance.languages)}).",
            hint="Choose engine='auto' to pick by language, or pass a model for that language.")
    return instance


def forget_engine(engine: str, model: str | None = None) -> None:
    """Make the engine anew next time (one that reads its settings, such as a key, when made)."""
    loaded.forget(("engine", engine, model))


def preload(engine: "str | Choice" = "auto", language: str = "ko", model: str | None = None) -> concurrent.futures.Future:
    """Start loading an engine's model in a background thread (at once, once per process).

    The future's result is the engine it loaded (models are shared process-wide, so
    :func:`get_engine` then returns a loaded one); a failed load is retried by the next call.
    """
    choice = choose(engine, language, model)
    return loaded.loading(("load", *choice.key, base_language(choice.language)), lambda: _load(choice),
                          name=f"stt-load-{choice.engine}")


def _load(choice: Choice) -> Engine:
    instance = get_engine(choice)
    instance.load(StreamConfig(language=choice.language, model=choice.model))
    from ..text import prepare

    # then Korean spacing (kiwipiepy holds the GIL ~0.8 s while it loads: after the engine, not beside it)
    prepare(choice.language, instance.capabilities)
    return instance


def warm(engines: Iterable[str]) -> dict[str, concurrent.futures.Future]:
    """Start loading each offered offline engine's model for its language (a service at start):
    otherwise its first client pays the cold start, ~8 s to a first Korean word on a 2-core machine."""
    choices = [choose(name, language) for language, name in OFFLINE_BY_LANGUAGE.items() if name in engines]
    return {f"{c.engine}:{c.model}" if c.model else c.engine: preload(c) for c in choices}


__all__ = ["Choice", "Engine", "EngineStream", "choose", "get_engine", "choose_engine_name", "preload", "warm", "FACTORIES",
           "OFFLINE_BY_LANGUAGE"]
