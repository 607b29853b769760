"""The synchronous front door: ``transcribe(path)`` → :class:`Transcript`, with a progress bar."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
from typing import Any, Callable, Coroutine, Iterator, TypeVar

from . import audio
from .errors import EngineError
from .events import Event
from .session import Session
from .sources import Source
from .transcript import Transcript

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion, also from inside Jupyter's already-running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="stt-run") as pool:
        return pool.submit(asyncio.run, coro).result()


@contextlib.contextmanager
def audio_progress(total: float, desc: str, enabled: bool = True) -> Iterator[Callable[[float], None] | None]:
    """A tqdm bar over seconds of audio sent; yields the ``progress`` callback for Session.run."""
    if not enabled:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=round(total, 1), unit="s", desc=desc,
               bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f}s audio [{elapsed}<{remaining}]")
    try:
        yield lambda seconds: bar.update(round(min(seconds, total) - bar.n, 1))  # tqdm throttles redraws
    finally:
        bar.close()


def transcribe(source: Source, language: str = "ko", *, engine: str = "auto", model: str | None = None,
               realtime: bool = False, progress: bool = True, sample_rate: int = 16000,
               on_event: Callable[[Event], Any] | None = None, **options: Any) -> Transcript:
    """Transcribe a file path, numpy array or PCM16 bytes; returns the finished :class:`Transcript`.

    ``options`` are Deepgram-named stream options (interim_results, endpointing, …);
    ``on_event(event)`` sees every event as it happens.
    Raises :class:`~stt_notebook.errors.STTError` subclasses for bad input or a failed engine.
    """
    session = Session(language, engine=engine, model=model, **options)
    if on_event is not None:
        session.subscribe(on_event)
    if isinstance(source, (str, os.PathLike)):
        session.transcript.source = os.path.basename(os.fspath(source))
        source = audio.load_pcm16(source)  # decode errors surface here, before any model loads
    elif not isinstance(source, (bytes, bytearray)):
        source = audio.array_to_pcm16(source, sample_rate)
    with audio_progress(audio.duration(source), f"transcribe ({session.engine_name})", progress) as advance:
        transcript = run_sync(session.run(source, realtime=realtime, progress=advance))
    if transcript.errors:
        error = transcript.errors[0]
        failure = EngineError(error.message, code=error.code)
        failure.transcript = transcript  # what was heard before the failure is not lost
        raise failure
    return transcript
