"""The one async engine interface, and the threaded stream that CPU engines share.

    async with engine.stream(config) as stream:
        await stream.send(pcm16)     # any size; waits while the engine is behind (backpressure)
        await stream.finalize()      # flush buffered audio as finals; the stream stays open
        await stream.close()         # flush, then end: iteration stops after the last event
        async for event in stream: ...
"""

from __future__ import annotations

import abc
import asyncio
import collections
import concurrent.futures
import os
from typing import Any, AsyncIterator, ClassVar

from ..capabilities import Capabilities
from ..config import SAMPLE_RATE, StreamConfig
from ..loaded import base_language
from ..errors import AudioError, EngineError, ErrorCode
from ..events import Error, Event, Final, Interim, UtteranceEnd

BYTES_PER_SECOND = SAMPLE_RATE * 2
_END = object()
_FINALIZE = object()
_CLOSE = object()


class EngineStream(abc.ABC):
    """One live recognition stream. Events come out in order; the last one is followed by the end."""

    _failed: Error | None = None  # set when the engine died: further audio is refused with its code
    _closing = False

    def _check_open(self) -> None:
        if self._failed is not None:
            raise EngineError(self._failed.message, code=self._failed.code)
        if self._closing:
            raise EngineError("The stream is closed; start a new one to send more audio.")

    @abc.abstractmethod
    async def send(self, pcm: bytes) -> None: ...

    @abc.abstractmethod
    async def finalize(self) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def abort(self) -> None:
        """Stop without flushing (the client vanished)."""
        await self.close()

    async def configure(self, config: StreamConfig) -> None:
        """Options changed mid-stream (Deepgram's Configure): they apply to the audio sent after this."""

    async def __aenter__(self) -> "EngineStream":
        return self

    async def __aexit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            await self.close()
        else:
            await self.abort()


class Engine(abc.ABC):
    """A recognizer family. One loaded model per process, shared by all its streams."""

    name: ClassVar[str]
    languages: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities()

    def load(self, config: StreamConfig) -> None:
        """Load what ``stream(config)`` needs (blocking; the Session runs it in a thread)."""

    @abc.abstractmethod
    def stream(self, config: StreamConfig) -> EngineStream:
        """Open a stream; call inside a running event loop."""

    def supports(self, language: str) -> bool:
        return base_language(language) in self.languages

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "languages": list(self.languages)}


_executor: concurrent.futures.ThreadPoolExecutor | None = None


def decode_executor() -> concurrent.futures.ThreadPoolExecutor:
    """The process-wide pool that CPU decoding runs in (never the event loop's thread)."""
    global _executor
    if _executor is None:
        _executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max(4, 2 * (os.cpu_count() or 2)), thread_name_prefix="stt-decode")
    return _executor


class UtteranceEndTracker:
    """Deepgram's UtteranceEnd: the gap after the last finalized word reaches ``utterance_end_ms``,
    judged on word timings (so noise without words does not hold it back)."""

    def __init__(self, utterance_end_ms: int | None):
        self.gap = None if utterance_end_ms is None else utterance_end_ms / 1000.0
        self.last_end: float | None = None

    def observe(self, event: Event) -> list[Event]:
        """Take one engine event; an UtteranceEnd is due when speech resumes after a long gap."""
        if self.gap is None:
            return []
        if isinstance(event, Final) and event.words:
            self.last_end = event.words[-1].end
        elif isinstance(event, Interim) and event.words and self.last_end is not None:
            if event.words[0].start - self.last_end >= self.gap:
                return self._fire()
            if event.words[0].end > self.last_end:
                self.last_end = None  # speech resumed within the gap: same utterance goes on
        return []

    def tick(self, now: float) -> list[Event]:
        if self.gap is not None and self.last_end is not None and now - self.last_end >= self.gap:
            return self._fire()
        return []

    def flush(self) -> list[Event]:
        return self._fire() if self.last_end is not None else []

    def _fire(self) -> list[Event]:
        end, self.last_end = self.last_end, None
        return [UtteranceEnd(end)]


class ThreadedStream(EngineStream):
    """Audio queue → decode serially in a worker thread → event queue.

    Subclasses implement the blocking ``_accept(pcm)`` and ``_flush(final)`` which return
    events; they run in :func:`decode_executor`, one call at a time per stream. Queued audio is
    coalesced up to ``coalesce_seconds`` per call, so a stream that falls behind catches up in
    larger steps instead of paying per-call overhead.
    """

    coalesce_seconds: ClassVar[float] = 1.0
    max_pending_seconds: ClassVar[float] = 4.0

    def __init__(self, config: StreamConfig):
        self.config = config
        self._items: collections.deque[Any] = collections.deque()
        self._pending_bytes = 0
        self._accepted_bytes = 0
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()
        self._out: asyncio.Queue[Any] = asyncio.Queue()
        self._closing = False
        self._failed: Error | None = None
        self._utterance_end = UtteranceEndTracker(
            config.utterance_end_ms if config.interim_results else None)
        self._task = asyncio.get_running_loop().create_task(self._run())

    # -- what subclasses implement (called in a worker thread) --
    @abc.abstractmethod
    def _accept(self, pcm: bytes) -> list[Event]: ...

    @abc.abstractmethod
    def _flush(self, final: bool) -> list[Event]: ...

    def _configured(self) -> None:
        """``self.config`` changed mid-stream: take up what the engine reads from it."""

    # -- public async API --
    @property
    def stream_time(self) -> float:
        """Seconds of audio the engine has consumed."""
        return self._accepted_bytes / BYTES_PER_SECOND

    @property
    def closing(self) -> bool:
        """close() was called: what is queued is the last audio this stream gets."""
        return self._closing

    @property
    def backlog_seconds(self) -> float:
        """Audio sent but not yet decoded (read from the worker thread too: a plain int)."""
        return self._pending_bytes / BYTES_PER_SECOND

    async def send(self, pcm: bytes) -> None:
        self._check_open()
        if not pcm:
            return
        if len(pcm) % 2:
            raise AudioError(f"PCM16 audio must have an even number of bytes, got {len(pcm)}.")
        self._items.append(bytes(pcm))
        self._pending_bytes += len(pcm)
        self._wake.set()
        limit = self.max_pending_seconds * BYTES_PER_SECOND
        while self._pending_bytes > limit and not self._task.done():
            self._drained.clear()
            await self._drained.wait()

    async def finalize(self) -> None:
        if not self._closing:
            self._items.append(_FINALIZE)
            self._wake.set()

    async def configure(self, config: StreamConfig) -> None:
        if not self._closing:
            self._items.append(config)  # taken in order: the audio before it is decoded as it was
            self._wake.set()

    async def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._items.append(_CLOSE)
            self._wake.set()

    async def abort(self) -> None:
        self._closing = True
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def __aiter__(self) -> AsyncIterator[Event]:  # type: ignore[override]
        while True:
            item = await self._out.get()
            if item is _END:
                self._out.put_nowait(_END)  # later iterations end too
                return
            yield item

    async def wait_closed(self) -> None:
        await asyncio.shield(self._task)

    # -- the worker --
    def _take_audio(self) -> bytes:
        limit = self.coalesce_seconds * BYTES_PER_SECOND
        parts = []
        size = 0
        while self._items and isinstance(self._items[0], bytes) and (not parts or size < limit):
            chunk = self._items.popleft()
            parts.append(chunk)
            size += len(chunk)
        self._pending_bytes -= size
        self._drained.set()
        return b"".join(parts)

    def _emit(self, events: list[Event]) -> None:
        """Queue one decode call's events, with the UtteranceEnds they imply."""
        for event in events:
            self._out.put_nowait(event)
            self._emit_all(self._utterance_end.observe(event))
        self._emit_all(self._utterance_end.tick(self.stream_time))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        executor = decode_executor()
        try:
            while True:
                while not self._items:
                    self._wake.clear()
                    await self._wake.wait()
                head = self._items[0]
                if isinstance(head, bytes):
                    pcm = self._take_audio()
                    events = await loop.run_in_executor(executor, self._accept, pcm)
                    self._accepted_bytes += len(pcm)
                    self._emit(events)
                    continue
                self._items.popleft()
                if isinstance(head, StreamConfig):
                    self.config = head
                    await loop.run_in_executor(executor, self._configured)
                    continue
                final = head is _CLOSE
                self._emit(await loop.run_in_executor(executor, self._flush, final))
                if final:
                    self._emit_all(self._utterance_end.flush())
                    return
        except asyncio.CancelledError:
            raise
        except Exception as e:  # an engine that dies: one coded event, then the end
            self._failed = Error(ErrorCode.ENGINE_ERROR, f"{type(self).__name__} failed: {e}")
            self._out.put_nowait(self._failed)
        finally:
            self._closing = True
            self._drained.set()
            self._out.put_nowait(_END)

    def _emit_all(self, events: list[Event]) -> None:
        for event in events:
            self._out.put_nowait(event)
