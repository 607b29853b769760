"""The one session driver: a connection's commands in order → one Session at a time, and what
the client should be told out. Every wire (``/ws/stt``, ``/v1/listen``, the widget's comm) maps
onto it; the hosts only authenticate and move bytes, and each wire's codec turns frames into
commands (:mod:`.commands`) and the driver's outcomes back into frames.

The driver owns the policy every wire shares: at most ``max_sessions`` sessions across the host,
audio taken at most ``max_realtime_factor`` × real time (backpressure: a faster sender's frames
queue, and past ``max_queued_frames`` they are refused with RATE_LIMITED), the idle timeout, coded
errors that never end the connection, and the drain on shutdown (what was received is finalized
and its finals sent before the connection closes 1001). It does no I/O: ``emit`` is told.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence, Union

from ..audio import duration, pace_delay
from ..errors import ErrorCode, ModelNotFoundError, STTError, UnknownEngineError
from ..events import Error, Event
from ..session import Session
from ..transcript import Transcript
from .commands import DRAIN, Audio, Close, Command, Configure, Finalize, ProtocolError, Start, Stop

if TYPE_CHECKING:
    from ..engines import Choice

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5  # of a drain's time, kept to write the last frames


@dataclass(frozen=True)
class Started:
    """A session is listening (its engine loaded): audio sent from now on is recognized at once."""

    engine: str


@dataclass(frozen=True)
class Stopped:
    """A session ended on the client's Stop: its transcript and the audio it took."""

    transcript: Transcript
    audio_seconds: float


@dataclass(frozen=True)
class Closing:
    """The connection should close: ``why`` is a :class:`Close`'s, "stopped" (the stream's own
    end) or "failed" (a one-session connection whose session could not start)."""

    why: str
    message: str = ""


@dataclass(frozen=True)
class Configured:
    """A Configure was taken: these options hold from the audio after it."""

    options: dict


Outcome = Union[Event, Started, Stopped, Closing, Configured]


@dataclass
class Limits:
    max_sessions: int = 32
    max_realtime_factor: float = 10.0
    burst_seconds: float = 10.0
    max_queued_frames: int = 500
    idle_timeout: float = 60.0
    max_connections: int = 64  # open WebSockets per server; more are refused with HTTP 503


def offered(start: Start, engines: Sequence[str], models: Mapping[str, str]) -> Choice:
    """The engine and model a client's Start may have: names the operator offered, the model
    resolved to its server path. Anything else is refused alike, so nothing can be probed."""
    from ..engines import choose, choose_engine_name
    from ..engines.models import VOSK_PACKAGES, WHISPER_PACKAGES

    engine = choose_engine_name(start.engine, start.config.language, cloud="deepgram" in engines)
    if engine not in engines:
        raise UnknownEngineError(f"The {engine} engine is not offered by this server.",
                                 hint=f"Choose one of: {', '.join(engines)} (or auto).")
    if start.model is None or start.model in VOSK_PACKAGES or start.model in WHISPER_PACKAGES:
        return choose(engine, start.config.language, start.model)
    if start.model in models:
        return choose(engine, start.config.language, models[start.model])
    raise ModelNotFoundError("No model by that name is offered by this server.",
                             hint=f"Offered: {', '.join([*VOSK_PACKAGES, *WHISPER_PACKAGES, *models])}.")


def offered_session(start: Start, engines: Sequence[str], models: Mapping[str, str]) -> Session:
    """A Session for a client's Start, on the operator's terms (:func:`offered`)."""
    return Session(offered(start, engines, models), start.config.language, config=start.config)


class Host:
    """What every connection of one server shares: its limits, its running sessions and how a
    Start becomes a Session (the operator's engines and models)."""

    def __init__(self, limits: Limits, open_session: Callable[[Start], Session]):
        self.limits = limits
        self.open_session = open_session
        self.sessions: set[Session] = set()
        self.drivers: set[Driver] = set()

    async def drain(self, timeout: float) -> None:
        """Shutdown: every connection finishes what it received (a model still loading included),
        then closes 1001; one still at work when ``timeout`` is near is told so and closed then."""
        drivers = list(self.drivers)
        for driver in drivers:
            driver.receive(DRAIN)
        if drivers:
            await asyncio.wait([d.done for d in drivers], timeout=max(0.0, timeout - FLUSH_SECONDS))
        await asyncio.gather(*(d.expire() for d in drivers if not d.done.done()))
        if drivers:
            await asyncio.sleep(FLUSH_SECONDS)  # the hosts write the last frames and close frames


class Driver:
    """One connection. ``receive(command)`` from the host's frame callback (never blocks);
    ``emit(outcome)`` is called in order for everything the client should be told."""

    def __init__(self, host: Host, emit: Callable[[Outcome], Any], *, one_session: bool = False,
                 audio_starts: bool = True):
        self.host = host
        self.emit = emit
        self.one_session = one_session  # /v1/listen: the connection is one stream; its end ends it
        self.audio_starts = audio_starts  # audio with no session starts one; else (the widget) it is dropped
        self.session: Session | None = None
        self._last_start = Start()  # audio with no session running starts one like the last
        self._refused = False  # the last Start was refused: its audio is dropped (one error said it), not run
        self._draining = False
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._busy = False
        self._last_seen = time.monotonic()
        self._audio_started = 0.0
        self._worker = asyncio.get_running_loop().create_task(self._work())
        self._idle: asyncio.TimerHandle | None = None
        host.drivers.add(self)
        self._touch()

    def receive(self, command: Command) -> None:
        """Queue a command. A full queue refuses audio only; control commands always get through."""
        self._touch()
        if command is DRAIN:
            self._draining = True  # what is queued is taken at once, unpaced
        if isinstance(command, Audio) and self.inbox.qsize() >= self.host.limits.max_queued_frames:
            self.emit(Error(ErrorCode.RATE_LIMITED, "Audio is arriving faster than it is taken; this frame was "
                            "dropped.", retry_after=1.0))
            return
        self.inbox.put_nowait(command)

    async def expire(self) -> None:
        """The drain's time is up and this connection is still at work (a model still loading, a
        long decode): say so with a code and close, rather than vanish."""
        self.emit(Error(ErrorCode.SHUTTING_DOWN, "The server is shutting down before this stream's finals were "
                        "ready; the audio it had not finished is lost: send it again to another server."))
        self.emit(Closing("drain", "server shutting down"))
        await self.abort()

    async def abort(self) -> None:
        """The client vanished: stop at once, free the recognizer."""
        self._end()
        self._worker.cancel()
        session, self.session = self.session, None
        if session is not None:
            self.host.sessions.discard(session)
            await session.abort()

    # -- the worker: commands in order --
    async def _work(self) -> None:
        try:
            while True:
                command = await self.inbox.get()
                self._busy = True
                try:
                    if await self._handle(command):
                        break
                except STTError as e:
                    self.emit(Error(e.code, str(e)))
                    if self.one_session and self.session is None:
                        self.emit(Closing("failed", str(e)))
                        break
                except Exception as e:  # the connection and the server stay up
                    log.exception("stt driver: unexpected failure")
                    self.emit(Error(ErrorCode.ENGINE_ERROR, f"Unexpected failure: {type(e).__name__}: {e}"))
                finally:
                    self._busy = False
                    self._last_seen = time.monotonic()
        finally:
            self._end()

    async def _handle(self, command: Command) -> bool:
        """Handle one command; True when the connection should end."""
        if isinstance(command, ProtocolError):
            self.emit(Error(command.code, command.message, details=command.details))
            self._refused = self._refused or (command.start and self.session is None)
        elif isinstance(command, Start):
            if self.session is not None:
                await self._stop()
            self._refused = True  # until it runs
            await self._start(command)
            self._refused = False
        elif isinstance(command, Audio):
            if command.pcm and (self.session is not None or (self.audio_starts and not self._refused)):
                if self.session is None:
                    await self._start(self._last_start)
                assert self.session is not None
                await self._pace(self.session, duration(command.pcm))
                await self.session.send(command.pcm)
        elif isinstance(command, Finalize):
            if self.session is not None:
                await self.session.finalize()
        elif isinstance(command, Configure):
            options = dict(command.options)
            try:
                if self.session is not None:
                    await self.session.configure(**options)
                config = self._last_start.config.with_options(**options)  # and any session started later
                self._last_start = dataclasses.replace(self._last_start, config=config)
            except STTError as e:
                self.emit(Error(e.code, str(e)))
            else:
                self.emit(Configured(options))
        elif isinstance(command, Stop):
            await self._stop()
            if self.one_session:
                self.emit(Closing("stopped"))
                return True
        elif isinstance(command, Close):
            if self.session is not None:
                await self._stop()  # what was received yields its finals
            self.emit(Closing(command.why, command.message))
            return True
        return False

    async def _start(self, start: Start) -> None:
        if len(self.host.sessions) >= self.host.limits.max_sessions:
            raise STTError(f"The server already runs {self.host.limits.max_sessions} transcription sessions.",
                           hint="Try again later.", code=ErrorCode.TOO_MANY_SESSIONS)
        self._last_start = start
        session = self.host.open_session(start)
        session.subscribe(self.emit)
        self.host.sessions.add(session)
        try:
            await session.start()
        except BaseException:
            self.host.sessions.discard(session)
            raise
        self.session = session
        self._audio_started = time.monotonic()
        self.emit(Started(session.engine_name))

    async def _pace(self, session: Session, seconds: float) -> None:
        """Backpressure: audio ahead of max_realtime_factor waits here, so frames queue in the inbox
        and past max_queued_frames are refused with RATE_LIMITED."""
        if self._draining:
            return
        limits = self.host.limits
        delay = pace_delay(session.audio_seconds + seconds, time.monotonic() - self._audio_started,
                           limits.max_realtime_factor, limits.burst_seconds)
        if delay > 0:
            await asyncio.sleep(delay)

    async def _stop(self) -> None:
        session, self.session = self.session, None
        if session is None:
            self.emit(Stopped(Transcript(), 0.0))
            return
        try:
            transcript = await session.stop()
        finally:
            self.host.sessions.discard(session)
        self.emit(Stopped(transcript, session.audio_seconds))

    # -- idle --
    def _touch(self) -> None:
        """Note activity. One timer per connection re-arms itself, rather than one per frame."""
        self._last_seen = time.monotonic()
        if self._idle is None and self.host.limits.idle_timeout > 0 and not self.done.done():
            self._idle = asyncio.get_running_loop().call_later(self.host.limits.idle_timeout, self._check_idle)

    def _check_idle(self) -> None:
        due = self._last_seen + self.host.limits.idle_timeout
        if self._busy or self.inbox.qsize() or time.monotonic() < due:  # active since, or still working
            self._idle = asyncio.get_running_loop().call_later(max(due - time.monotonic(), 0.1), self._check_idle)
            return
        self._idle = None
        self.inbox.put_nowait(Close("idle", f"No message for {self.host.limits.idle_timeout:g} s; closing."))

    def _end(self) -> None:
        self.host.drivers.discard(self)
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if not self.done.done():
            self.done.set_result(None)
