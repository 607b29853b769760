"""``Session``: drives one engine stream from one audio source and fans its events out.

Every path — a file, a numpy array, the browser widget, the ``/ws/stt`` relay, a local
microphone — goes through this class; nothing else talks to an engine. Stop means finalize
and drain: audio already sent always yields its finals.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any, AsyncIterator, Callable


from . import audio
from .config import SAMPLE_RATE, StreamConfig
from .engines import Choice, Engine, EngineStream, choose, get_engine, preload
from .errors import ConfigError, EngineError
from .events import Error, Event, shift, to_wire
from .level import InputLevel, LevelStage
from .sources import Source, source_frames
from .text import TextStage
from .transcript import Transcript

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], Any]
_END = object()


class Session:
    """One live transcription: ``await s.run(source)``, or ``start``/``send``/``stop`` by hand.

    ``engine``: "auto" (by language), "vosk", "whisper" or "deepgram"; ``options``: any
    :class:`StreamConfig` field under its Deepgram name (interim_results, endpointing, …).
    ``record_audio``/``record_events``: write the audio (WAV) and events (JSONL) as they pass.
    ``transcript``/``offset``: continue an existing Transcript, this session's times running on
    from ``offset`` seconds (a widget's second recording).
    """

    def __init__(self, language: str = "ko", *, engine: str | Choice = "auto", model: str | None = None,
                 config: StreamConfig | None = None, record_audio: str | os.PathLike | None = None,
                 record_events: str | os.PathLike | None = None, transcript: Transcript | None = None,
                 offset: float = 0.0, **options: Any):
        self.config = (StreamConfig.from_options(language=language, model=model, **options)
                       if config is None else config.with_options(**options))
        self.choice = choose(engine, self.config.language, model)  # resolved once: the loader and text stage read it
        self.engine_name = self.choice.engine
        self.transcript = (Transcript(language=self.config.language, engine=self.engine_name)
                           if transcript is None else transcript)
        self.offset = offset
        self.record_audio = record_audio
        self.record_events = record_events
        self._subscribers: list[Subscriber] = []
        self._queues: list[asyncio.Queue] = []
        self._stream: EngineStream | None = None
        self._reader: asyncio.Task | None = None
        self._wav = None
        self._jsonl = None
        self._level = LevelStage(apply=False)
        self.audio_seconds = 0.0

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return (f"<Session {self.engine_name} {self.config.language} {state}, "
                f"{self.audio_seconds:.1f}s sent, {len(self.transcript.finals)} finals>")

    # -- subscribers --
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` for every event (in the event loop's thread). Returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback) if callback in self._subscribers else None

    async def events(self) -> AsyncIterator[Event]:
        """Every event from now until the session stops."""
        queue: asyncio.Queue = asyncio.Queue()
        self._queues.append(queue)
        try:
            while (event := await queue.get()) is not _END:
                yield event
        finally:
            self._queues.remove(queue)

    # -- lifecycle --
    @property
    def input_level(self) -> InputLevel:
        """The input's speech level, the gain applied and any warning (too quiet, clipping)."""
        return self._level.level

    @property
    def running(self) -> bool:
        return self._reader is not None and not self._reader.done()

    async def start(self) -> None:
        if self.running:
            raise EngineError("This session is already running.", hint="Call stop() first.")
        # shared with whoever asked first (a LiveTranscriber loads when it is made): audio sent
        # meanwhile waits in the caller's queue and is recognized once the model is ready
        await asyncio.wrap_future(preload(self.choice))
        engine: Engine = await asyncio.to_thread(get_engine, self.choice)
        if self.record_audio:
            import soundfile as sf

            self._wav = sf.SoundFile(str(self.record_audio), "w", SAMPLE_RATE, 1, "PCM_16")
        if self.record_events:
            self._jsonl = open(self.record_events, "a", encoding="utf-8")
        self._stream = engine.stream(self.config)
        self._level = await asyncio.to_thread(LevelStage, self.config.auto_gain and engine.capabilities.auto_gain)  # quiet speech raised
        self._text = TextStage(self.config, self.engine_name, engine.capabilities)  # written Korean, Deepgram's text options
        self._reader = asyncio.get_running_loop().create_task(self._read(self._stream))

    async def send(self, pcm: bytes) -> None:
        """Feed PCM16 16 kHz mono audio; waits while the engine is behind."""
        if self._stream is None:
            await self.start()
        assert self._stream is not None
        await self._stream.send(self._level(pcm))
        if self._wav is not None:
            self._wav.buffer_write(pcm, dtype="int16")  # what was received, not what was raised
        self.audio_seconds += audio.duration(pcm)

    async def configure(self, **options: Any) -> StreamConfig:
        """Change options mid-stream (Deepgram's Configure: keyterm, numerals, smart_format, …): the
        engine takes them for the audio sent after this, the text stage for the events after this.
        Raises ConfigError for a bad option; returns the new config."""
        config = self.config.with_options(**options)
        if self._stream is not None:
            await self._stream.configure(config)
            self._text = TextStage(config, self.engine_name, self._text.caps)
        self.config = config
        return config

    async def finalize(self) -> None:
        """Flush buffered audio as finals; the session stays open."""
        if self._stream is not None:
            await self._stream.finalize()

    async def stop(self) -> Transcript:
        """Finalize, drain every event, close recordings. Safe to call twice."""
        stream, reader = self._stream, self._reader
        if stream is not None and reader is not None:
            await stream.close()
            await reader
        self._stream = self._reader = None
        self._close_recordings()
        self.transcript.input_level = self.input_level
        return self.transcript

    async def abort(self) -> None:
        """Stop at once without flushing (the client went away)."""
        if self._stream is not None:
            await self._stream.abort()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        self._stream = self._reader = None
        self._close_recordings()

    async def __aenter__(self) -> "Session":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def run(self, source: Source, *, realtime: bool = False, frame_ms: int = 100,
                  sample_rate: int = SAMPLE_RATE,
                  progress: Callable[[float], Any] | None = None) -> Transcript:
        """Pump ``source`` through the engine and return the finished Transcript.

        ``realtime`` paces audio like a live microphone; ``progress(seconds)`` is told how much
        audio was sent after each frame. Interrupted or not, what was sent is finalized and drained.
        """
        if (self.record_audio and isinstance(source, (str, os.PathLike))
                and os.path.abspath(source) == os.path.abspath(self.record_audio)):
            raise ConfigError(f"record_audio would overwrite the file being transcribed ({os.fspath(source)}).",
                              hint="Record to another file name.")
        if self._stream is None:
            await self.start()
        sent = 0.0
        try:
            async for frame in source_frames(source, frame_ms, sample_rate, realtime=realtime):
                try:
                    await self.send(frame)
                except EngineError:
                    break  # the engine died; its Error event is in the transcript
                sent += audio.duration(frame)
                if progress is not None:
                    progress(sent)
        finally:
            await self.stop()
        return self.transcript

    # -- fan-out --
    async def _read(self, stream: EngineStream) -> None:
        try:
            async for event in stream:
                text = self._text  # read per event: a configure() changes what follows
                if (loading := text.waits_for(event)) is not None:
                    await asyncio.wrap_future(loading)  # the Korean spacer, on a cold start: later events queue
                self._publish(text.apply(event))
        except Exception as e:  # a broken stream still ends the session cleanly
            log.exception("engine stream failed")
            self._publish(Error("ENGINE_ERROR", f"engine stream failed: {e}"))
        finally:
            for queue in self._queues:
                queue.put_nowait(_END)

    def _publish(self, event: Event) -> None:
        if self.offset:
            event = shift(event, self.offset)
        self.transcript.add(event)
        if self._jsonl is not None:
            self._jsonl.write(json.dumps(to_wire(event), ensure_ascii=False) + "\n")
            self._jsonl.flush()
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("a session subscriber failed; the session goes on")
        for queue in self._queues:
            queue.put_nowait(event)

    def _close_recordings(self) -> None:
        if self._wav is not None:
            self._wav.close()
            self._wav = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
