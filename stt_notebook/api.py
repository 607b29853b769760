"""The synchronous front door: ``transcribe(path)`` → :class:`Transcript`, with a progress bar."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from typing import Any, Coroutine, TypeVar

from . import audio
from .errors import EngineError
from .session import Session, Source
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


def transcribe(source: Source, language: str = "ko", engine: str = "auto", model: str | None = None, *,
               realtime: bool = False, progress: bool = True, sample_rate: int = 16000,
               **options: Any) -> Transcript:
    """Transcribe a file path, numpy array or PCM16 bytes; returns the finished :class:`Transcript`.

    ``options`` are Deepgram-named stream options (interim_results, endpointing, …).
    Raises :class:`~stt_notebook.errors.STTError` subclasses for bad input or a failed engine.
    """
    session = Session(engine, language, model, **options)
    if isinstance(source, (str, os.PathLike)):
        session.transcript.source = os.path.basename(os.fspath(source))
        pcm = audio.load_pcm16(source)  # decode errors surface here, before any model loads
        source = pcm
    elif not isinstance(source, (bytes, bytearray)):
        source = audio.array_to_pcm16(source, sample_rate)
    total = audio.duration(source)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=round(total, 1), unit="s", desc=f"transcribe ({session.engine_name})",
                   bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f}s audio [{elapsed}<{remaining}]")

    def advance(seconds: float) -> None:
        bar.n = round(min(seconds, total), 1)
        bar.refresh() if bar.n >= total else bar.update(0)

    try:
        transcript = run_sync(session.run(source, realtime=realtime, progress=advance if bar else None))
    finally:
        if bar is not None:
            bar.close()
    if transcript.errors:
        error = transcript.errors[0]
        failure = EngineError(error.message, code=error.code)
        failure.transcript = transcript  # what was heard before the failure is not lost
        raise failure
    return transcript
