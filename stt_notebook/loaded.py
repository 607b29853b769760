"""One loaded copy of each model per process: the registry every loader goes through (recognizer
models, the VAD, the Korean spacer, engines), blocking or in the background."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any, Callable, Hashable, TypeVar

M = TypeVar("M")
_loaded: dict[Hashable, Any] = {}
_loading: dict[Hashable, concurrent.futures.Future] = {}
_lock = threading.RLock()  # re-entrant: a loader may ask for another model


def shared(key: Hashable, load: Callable[[], M]) -> M:
    """The model under ``key``, loaded by ``load`` on first use, however many threads ask."""
    with _lock:
        if key not in _loaded:
            _loaded[key] = load()
        return _loaded[key]


def loading(key: Hashable, load: Callable[[], M], name: str = "stt-load") -> concurrent.futures.Future:
    """A future of ``load()``'s result, started once in its own thread by the first call (a person
    clicks record a moment after the cell ran: loading then is what makes the first words quick).
    A load that failed is tried again by the next call."""
    with _lock:
        future = _loading.get(key)
        if future is None or (future.done() and future.exception() is not None):
            future = _loading[key] = concurrent.futures.Future()

            def run() -> None:
                try:
                    result = load()
                except BaseException as e:
                    future.set_exception(e)
                else:
                    future.set_result(result)

            threading.Thread(target=run, name=name, daemon=True).start()
        return future


def forget(key: Hashable) -> None:
    """Drop what is held under ``key`` (an engine that reads its settings when made)."""
    with _lock:
        _loaded.pop(key, None)
        _loading.pop(key, None)


def base_language(language: str) -> str:
    """'ko' for 'ko-KR': what models and engines are chosen by."""
    return language.split("-")[0].lower()
