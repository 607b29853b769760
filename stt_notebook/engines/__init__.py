"""Engines behind one interface, chosen by name or by language (``engine="auto"``)."""

from __future__ import annotations

import concurrent.futures
import difflib
import importlib
import threading
from typing import Callable, Iterable

from ..config import StreamConfig
from ..errors import UnknownEngineError, UnsupportedLanguageError, shown
from .base import Capabilities, Engine, EngineStream

OFFLINE_BY_LANGUAGE = {"ko": "whisper", "en": "whisper"}
# whisper's model when none is named: tiny.en for English (measured better there, benchmarks/engines.py),
# base (multilingual) for every other language Whisper knows
WHISPER_DEFAULT = {"en": "tiny.en"}
WHISPER_MULTILINGUAL = "base"


def default_model(engine: str, language: str, model: str | None) -> str | None:
    """The model an engine runs when the client named none."""
    if engine != "whisper" or model is not None:
        return model
    return WHISPER_DEFAULT.get(language.split("-")[0].lower(), WHISPER_MULTILINGUAL)


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


_cache: dict[tuple[str, str | None], Engine] = {}
_lock = threading.Lock()


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
    base = language.split("-")[0].lower()
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


def get_engine(engine: str = "auto", language: str = "ko", model: str | None = None) -> Engine:
    """A shared engine instance (so its model is loaded once per process)."""
    name = choose_engine_name(engine, language)
    model = default_model(name, language, model)
    key = (name, model)
    with _lock:
        if key not in _cache:
            _cache[key] = FACTORIES[name](model)
        instance = _cache[key]
    if not instance.supports(language):
        raise UnsupportedLanguageError(
            f"The {name} engine does not know language {shown(language)} (it knows: {', '.join(instance.languages)}).",
            hint="Choose engine='auto' to pick by language, or pass a model for that language.")
    return instance


_loads: dict[tuple[str, str | None, str], concurrent.futures.Future] = {}


def preload(engine: str = "auto", language: str = "ko", model: str | None = None) -> concurrent.futures.Future:
    """Start loading an engine's model in a background thread (at once, once per process).

    A person clicks record a moment after the cell ran; loading then instead of on the first
    audio is what makes the first words show at once. The future's result is the engine it
    loaded (models are shared process-wide, so :func:`get_engine` then returns a loaded one);
    a failed load is retried by the next call.
    """
    name = choose_engine_name(engine, language)
    model = default_model(name, language, model)
    key = (name, model, language.split("-")[0].lower())
    with _lock:
        future = _loads.get(key)
        if future is None or (future.done() and future.exception() is not None):
            future = _loads[key] = concurrent.futures.Future()
            threading.Thread(target=_load, args=(future, name, language, model), daemon=True,
                             name=f"stt-load-{name}").start()
        return future


def _load(future: concurrent.futures.Future, name: str, language: str, model: str | None) -> None:
    try:
        instance = get_engine(name, language, model)
        instance.load(StreamConfig(language=language, model=model))
    except BaseException as e:
        future.set_exception(e)
        return
    future.set_result(instance)
    from ..text import prepare

    # then Korean spacing (kiwipiepy holds the GIL ~0.8 s while it loads: after the engine, not beside it)
    prepare(language, name)


def warm(engines: Iterable[str]) -> dict[str, concurrent.futures.Future]:
    """Start loading each offered offline engine's model for its language (a service at start):
    otherwise its first client pays the cold start, ~8 s to a first Korean word on a 2-core machine."""
    return {f"{name}:{default_model(name, language, None)}" if name == "whisper" else name: preload(name, language)
            for language, name in OFFLINE_BY_LANGUAGE.items() if name in engines}


__all__ = ["Engine", "EngineStream", "get_engine", "choose_engine_name", "preload", "warm", "FACTORIES",
           "OFFLINE_BY_LANGUAGE"]
