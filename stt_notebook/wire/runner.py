"""The asyncio side of a connection: :class:`Runner` carries out a :class:`~.connection.Connection`'s
actions (opens, feeds and stops the Session, arms the idle timer), and :class:`Link` is the one
host adapter every host runs: frames in through the wire's codec, outcomes out as the codec's
frames, in order, then the close code. Starlette, Tornado, the widget and the test stand-in only
authenticate and hand over frames."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from typing import Any, AsyncIterator, Callable, Protocol

from ..errors import ErrorCode, STTError
from ..events import Error
from ..session import Session
from ..transcript import Transcript
from .connection import (Action, Connection, Feed, Finish, Flush, Limits, Open, Reconfigure, Release, State, Tell,
                         Work)
from .vocabulary import DRAIN, Closing, Command, Outcome, Start

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.5  # of a drain's time, kept to write the last frames


class Host:
    """What every connection of one server shares: its limits, its running sessions and how a
    Start becomes a Session (the operator's engines and models)."""

    def __init__(self, limits: Limits, open_session: Callable[[Start], Session]):
        self.limits = limits
        self.open_session = open_session
        self.sessions: set[Session] = set()
        self.runners: set[Runner] = set()

    def open(self, start: Start) -> Session:
        if len(self.sessions) >= self.limits.max_sessions:
            raise STTError(f"The server already runs {self.limits.max_sessions} transcription sessions.",
                           hint="Try again later.", code=ErrorCode.TOO_MANY_SESSIONS)
        session = self.open_session(start)
        self.sessions.add(session)
        return session

    async def drain(self, timeout: float) -> None:
        """Shutdown: every connection finishes what it received (a model still loading included),
        then closes 1001; one still at work when ``timeout`` is near is told so and closed then."""
        runners = list(self.runners)
        for runner in runners:
            runner.receive(DRAIN)
        if runners:
            await asyncio.wait([r.done for r in runners], timeout=max(0.0, timeout - FLUSH_SECONDS))
        for runner in runners:
            runner.expire()
        if runners:
            await asyncio.sleep(FLUSH_SECONDS)  # the hosts write the last frames and close frames


class Runner:
    """Carries out one connection's actions on the running loop. ``tell(outcome)`` is called in
    order for everything the client should be told: the connection's outcomes and the session's
    events. ``record`` (the widget's Transcript: the person's record of every recording) also keeps
    the connection's own errors (a bad frame, a failed start) beside the sessions' events; a
    socket's are only told, so a flood of bad frames is not kept."""

    def __init__(self, host: Host, tell: Callable[[Outcome], Any], *, one_session: bool = False,
                 audio_starts: bool = True, record: Transcript | None = None, clock: Callable[[], float] = time.monotonic):
        self.host, self.tell, self.clock, self.record = host, tell, clock, record
        self.connection = Connection(host.limits, clock(), one_session=one_session, audio_starts=audio_starts)
        self.session: Session | None = None  # the running one
        self._work: asyncio.Task | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        host.runners.add(self)
        self._arm()

    def receive(self, command: Command) -> None:
        """A command from the client (never blocks)."""
        self._carry_out(self.connection.receive(command, self.clock()))

    def expire(self) -> None:
        self._carry_out(self.connection.expire())

    async def abort(self) -> None:
        """The client vanished: stop at once, free the recognizer."""
        self.connection.lost()
        self._end()
        await self._release()

    # -- actions --
    def _carry_out(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Tell):
                self._tell(action.outcome)
            elif isinstance(action, Release):
                asyncio.get_running_loop().create_task(self._release())
            else:
                self._work = asyncio.get_running_loop().create_task(self._perform(action))
        if self.connection.state is State.CLOSED and self.connection.pending is None:
            self._end()
        else:
            self._arm()

    def _tell(self, outcome: Outcome) -> None:
        if isinstance(outcome, Error) and self.record is not None:
            self.record.add(outcome)
        self.tell(outcome)

    async def _perform(self, work: Work) -> None:
        try:
            value = await self._do(work)
        except STTError as e:
            actions = self.connection.failed(self.clock(), e.code, str(e))
        except Exception as e:  # the connection and the server stay up
            log.exception("stt connection: unexpected failure")
            actions = self.connection.failed(self.clock(), ErrorCode.ENGINE_ERROR,
                                             f"Unexpected failure: {type(e).__name__}: {e}")
        else:
            actions = self.connection.done(self.clock(), value)
        self._work = None
        self._carry_out(actions)

    async def _do(self, work: Work) -> Any:
        if isinstance(work, Open):
            session = self.host.open(work.start)
            session.subscribe(self.tell)
            try:
                await session.start()
            except BaseException:
                self.host.sessions.discard(session)
                raise
            self.session = session
            return session.engine_name
        session = self.session
        assert session is not None
        if isinstance(work, Feed):
            if (wait := work.at - self.clock()) > 0:
                await asyncio.sleep(wait)
            await session.send(work.pcm)
        elif isinstance(work, Flush):
            await session.finalize()
        elif isinstance(work, Reconfigure):
            await session.configure(**work.options)
        elif isinstance(work, Finish):
            self.session = None
            try:
                transcript = await session.stop()
            finally:
                self.host.sessions.discard(session)
            return transcript, session.audio_seconds
        return None

    async def _release(self) -> None:
        if self._work is not None and self._work is not asyncio.current_task():
            self._work.cancel()
        session, self.session = self.session, None
        if session is not None:
            self.host.sessions.discard(session)
            await session.abort()
        self._end()

    # -- the idle timer: one per connection, re-armed to the connection's deadline --
    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if (due := self.connection.deadline()) is not None:
            self._timer = asyncio.get_running_loop().call_later(max(due - self.clock(), 0.0), self._tick)

    def _tick(self) -> None:
        self._timer = None
        self._carry_out(self.connection.tick(self.clock()))

    def _end(self) -> None:
        self.host.runners.discard(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self.done.done():
            self.done.set_result(None)


class Codec(Protocol):
    """A wire: its frames → commands (never raises), an outcome → its frames, a close's code."""

    def commands(self, frame: Any) -> list[Command]: ...

    def render(self, outcome: Outcome) -> list[Any]: ...

    def close_code(self, why: str) -> tuple[int, str]: ...


class Watch(Protocol):
    def received(self, command: Command) -> None: ...

    def told(self, outcome: Outcome) -> None: ...

    def closed(self, code: int | None) -> None: ...


class Link:
    """One client connection on any host. The host hands over frames (:meth:`frame`, or
    :meth:`serve` for a host that reads them itself) and says when the client went away
    (:meth:`hang_up`); ``send(frame)`` and ``close(code, reason)`` may be plain or awaitable.
    Frames go out in order, by one writer, and the close comes after the last of them."""

    def __init__(self, host: Host, codec: Codec, send: Callable[[Any], Any], close: Callable[[int, str], Any] | None = None,
                 *, watch: Watch | None = None, **connection: Any):
        self.codec, self._send, self._close, self.watch = codec, send, close, watch
        self._outbox: asyncio.Queue = asyncio.Queue()
        self.close_code: tuple[int, str] | None = None
        self.closing: asyncio.Future = asyncio.get_running_loop().create_future()  # set: a Closing was told
        self._writer = asyncio.get_running_loop().create_task(self._write())
        self.runner = Runner(host, self._told, **connection)  # one_session, audio_starts, record

    def frame(self, data: Any) -> None:
        for command in self.codec.commands(data):
            self.command(command)

    def command(self, command: Command) -> None:
        if self.watch is not None:
            self.watch.received(command)
        self.runner.receive(command)

    async def hang_up(self) -> None:
        """The client went away: the session stops at once; nothing more is written."""
        if not self.closing.done():
            self.closing.set_result(None)
        await self.runner.abort()
        self._outbox.put_nowait(None)
        await self.closed()

    async def closed(self) -> None:
        """Until the last frame (and the close) is written."""
        await asyncio.shield(self._writer)

    async def serve(self, frames: AsyncIterator[Any]) -> None:
        """For a host that reads: take frames until the connection closes or the client goes."""
        async def read() -> None:
            with contextlib.suppress(Exception):  # a client that vanished mid-read ends the stream
                async for data in frames:
                    if data is not None:
                        self.frame(data)

        reader = asyncio.get_running_loop().create_task(read())
        await asyncio.wait([self.closing, reader], return_when=asyncio.FIRST_COMPLETED)
        reader.cancel()
        if self.close_code is None:
            await self.hang_up()
        await self.closed()

    def _told(self, outcome: Outcome) -> None:
        if self.watch is not None:
            self.watch.told(outcome)
        for frame in self.codec.render(outcome):
            self._outbox.put_nowait(frame)
        if isinstance(outcome, Closing) and not self.closing.done():
            self.close_code = self.codec.close_code(outcome.why)
            self._outbox.put_nowait(None)
            self.closing.set_result(self.close_code)

    async def _write(self) -> None:
        while (frame := await self._outbox.get()) is not None:
            with contextlib.suppress(Exception):  # a client gone mid-write: the rest is dropped below
                if inspect.isawaitable(sent := self._send(frame)):
                    await sent
        if self.close_code is not None and self._close is not None:
            with contextlib.suppress(Exception):
                if inspect.isawaitable(closed := self._close(*self.close_code)):
                    await closed
        if self.watch is not None:
            self.watch.closed(self.close_code[0] if self.close_code else None)
