"""One client connection as a state machine, sans-I/O (as python-websockets' ``Protocol``): a
command comes in with the time (``receive(command, now)``) and the answer is a list of actions
for the runner (:mod:`.runner`) to carry out. Nothing here awaits, sleeps or reads a clock, so a
test steps it with any clock it likes.

Work with a session (open it, feed it audio, flush, reconfigure, finish) is one action at a time:
the runner reports its end with :meth:`Connection.done` or :meth:`Connection.failed`, and commands
that come meanwhile wait in order. That queue is the backpressure: audio past
``max_queued_frames`` is refused with RATE_LIMITED, and audio ahead of ``max_realtime_factor`` ×
real time is fed no earlier than :attr:`Feed.at`. Control commands always get through.

The policy is every wire's: at most one session at a time, coded errors that never end the
connection, an idle timeout, and a drain (what was received is finalized and told before the
connection closes).
"""

from __future__ import annotations

import dataclasses
import enum
from collections import deque
from dataclasses import dataclass
from typing import Any, Union

from ..audio import duration, pace_delay
from ..errors import ErrorCode
from ..events import Error
from .vocabulary import (Audio, Close, Closing, Command, Configure, Configured, Finalize, Outcome, ProtocolError,
                         Start, Started, Stop, Stopped)


@dataclass
class Limits:
    """An operator's limits on its clients (the defaults of ``serve`` and the Jupyter relay)."""

    max_sessions: int = 32
    max_realtime_factor: float = 10.0
    burst_seconds: float = 10.0
    max_queued_frames: int = 500
    idle_timeout: float = 60.0
    max_connections: int = 64  # open WebSockets per server; more are refused with HTTP 503


class State(enum.Enum):
    READY = "ready"  # no session: a Start (or audio, where audio starts one) opens one
    OPENING = "opening"  # a session's engine is loading
    LISTENING = "listening"  # a session takes audio
    STOPPING = "stopping"  # a session finishes: its finals are on their way
    CLOSED = "closed"  # Closing was told; nothing more is taken


# -- actions: what the runner is asked to do --
@dataclass(frozen=True)
class Tell:
    """Tell the client ``outcome`` (at once)."""

    outcome: Outcome


@dataclass(frozen=True)
class Open:
    """Open a session for ``start`` and start it; done with the engine's name."""

    start: Start


@dataclass(frozen=True)
class Feed:
    """Give the session ``pcm``, not before ``at`` (the clock of ``receive``)."""

    pcm: bytes
    at: float


@dataclass(frozen=True)
class Flush:
    """What the session heard becomes finals; it goes on."""


@dataclass(frozen=True)
class Reconfigure:
    """The session hears the audio after this with ``options``."""

    options: dict[str, Any]


@dataclass(frozen=True)
class Finish:
    """Stop the session; done with ``(transcript, audio_seconds)``."""


@dataclass(frozen=True)
class Release:
    """Drop the session at once and any work in flight (the drain's time is up)."""


Work = Union[Open, Feed, Flush, Reconfigure, Finish]
Action = Union[Tell, Work, Release]


class Connection:
    """``one_session``: the connection is one stream (/v1/listen), its session's end is its end.
    ``audio_starts``: audio with no session running starts one like the last Start (a wire's
    client may skip the Start); else it is dropped (the widget: frames after a stop)."""

    def __init__(self, limits: Limits, now: float, *, one_session: bool = False, audio_starts: bool = True):
        self.limits = limits
        self.one_session = one_session
        self.audio_starts = audio_starts
        self.state = State.READY
        self.pending: Work | None = None  # the one action in flight
        self.queue: deque[Command] = deque()
        self.last_start = Start()  # audio with no session starts one like it
        self.refused = False  # the last Start was refused: its audio is dropped (one error said so)
        self.draining = False  # audio is taken at once, unpaced
        self.last_seen = now
        self._audio_began = now
        self._fed = 0.0  # seconds of audio given to this session
        self._then: Closing | None = None  # told once the session in flight has finished

    # -- in --
    def receive(self, command: Command, now: float) -> list[Action]:
        if self.state is State.CLOSED:
            return []
        self.last_seen = now
        if isinstance(command, Close) and command.why == "drain":
            self.draining = True
        if isinstance(command, Audio) and len(self.queue) >= self.limits.max_queued_frames:
            return [Tell(Error(ErrorCode.RATE_LIMITED, "Audio is arriving faster than it is taken; this frame was "
                               "dropped.", retry_after=1.0))]
        self.queue.append(command)
        return self._advance(now)

    def done(self, now: float, value: Any = None) -> list[Action]:
        """The action in flight succeeded (``value``: an Open's engine name, a Finish's
        ``(transcript, audio_seconds)``)."""
        work, self.pending = self.pending, None
        self.last_seen = now
        actions: list[Action] = []
        if isinstance(work, Open):
            self.state, self.refused = State.LISTENING, False
            self._audio_began, self._fed = now, 0.0
            actions.append(Tell(Started(value)))
        elif isinstance(work, Reconfigure):
            self._remember(work.options)
            actions.append(Tell(Configured(work.options)))
        elif isinstance(work, Finish):
            actions += [Tell(Stopped(*value)), *self._finished()]
        return actions + self._advance(now)

    def failed(self, now: float, code: str, message: str) -> list[Action]:
        """The action in flight failed with a coded error: told, and the connection goes on (a
        one-session connection whose session is gone closes "failed")."""
        work, self.pending = self.pending, None
        self.last_seen = now
        actions: list[Action] = [Tell(Error(code, message))]
        if isinstance(work, Open):
            self.state = State.READY  # its audio stays refused
        elif isinstance(work, Finish):
            actions += self._finished()
        if self.one_session and self.state is State.READY:
            actions += self._close(Closing("failed", message))
        return actions + self._advance(now)

    def expire(self) -> list[Action]:
        """The drain's time is up and this connection is still at work (a model still loading, a
        long decode): say so with a code and close, rather than vanish."""
        if self.state is State.CLOSED:
            return []
        self.queue.clear()
        error = Error(ErrorCode.SHUTTING_DOWN, "The server is shutting down before this stream's finals were "
                      "ready; the audio it had not finished is lost: send it again to another server.")
        return [Tell(error), *self._close(Closing("drain", "server shutting down")), Release()]

    def lost(self) -> list[Action]:
        """The client went away: nothing more is told; the session is dropped."""
        self.state = State.CLOSED
        self.queue.clear()
        return [Release()]

    # -- the idle timeout --
    def deadline(self) -> float | None:
        """When :meth:`tick` should be called next (None: not while work is in flight or queued)."""
        if self.limits.idle_timeout <= 0 or self.state is State.CLOSED or self.pending is not None or self.queue:
            return None
        return self.last_seen + self.limits.idle_timeout

    def tick(self, now: float) -> list[Action]:
        if (due := self.deadline()) is None or now < due:
            return []
        return self.receive(Close("idle", f"No message for {self.limits.idle_timeout:g} s; closing."), now)

    # -- commands in order, one piece of work at a time --
    def _advance(self, now: float) -> list[Action]:
        actions: list[Action] = []
        while self.pending is None and self.queue and self.state is not State.CLOSED:
            actions += self._take(self.queue.popleft(), now)
        return actions

    def _take(self, command: Command, now: float) -> list[Action]:
        listening = self.state is State.LISTENING
        if isinstance(command, ProtocolError):
            self.refused = self.refused or (command.start and not listening)
            return [Tell(Error(command.code, command.message, details=command.details))]
        if isinstance(command, Start):
            if listening:  # one session at a time: this one's finals first
                self.queue.appendleft(command)
                return self._work(Finish(), State.STOPPING)
            self.refused, self.last_start = True, command  # until it runs
            return self._work(Open(command), State.OPENING)
        if isinstance(command, Audio):
            if not command.pcm:
                return []
            if listening:
                return self._work(Feed(command.pcm, now + self._delay(duration(command.pcm), now)), State.LISTENING)
            if self.audio_starts and not self.refused:
                self.queue.appendleft(command)
                return self._work(Open(self.last_start), State.OPENING)
            return []
        if isinstance(command, Finalize):
            return self._work(Flush(), State.LISTENING) if listening else []
        if isinstance(command, Configure):
            options = dict(command.options)
            if listening:
                return self._work(Reconfigure(options), State.LISTENING)
            self._remember(options)
            return [Tell(Configured(options))]
        if isinstance(command, Stop):
            then = Closing("stopped") if self.one_session else None
            if listening:
                self._then = then
                return self._work(Finish(), State.STOPPING)
            return [Tell(Stopped(None, 0.0)), *self._close(then)]
        if isinstance(command, Close):
            then = Closing(command.why, command.message)
            if listening:  # what was received yields its finals first
                self._then = then
                return self._work(Finish(), State.STOPPING)
            return self._close(then)
        return []  # KeepAlive: the client is there

    def _work(self, work: Work, state: State) -> list[Action]:
        self.pending, self.state = work, state
        return [work]

    def _delay(self, seconds: float, now: float) -> float:
        """Backpressure: audio ahead of ``max_realtime_factor`` × real time waits (commands queue
        behind it, and past ``max_queued_frames`` audio is refused)."""
        self._fed += seconds
        if self.draining:
            return 0.0
        limits = self.limits
        return max(0.0, pace_delay(self._fed, now - self._audio_began, limits.max_realtime_factor, limits.burst_seconds))

    def _remember(self, options: dict[str, Any]) -> None:
        """A Configure holds for any session started later on this connection too."""
        config = self.last_start.config.with_options(**options)
        self.last_start = dataclasses.replace(self.last_start, config=config)

    def _finished(self) -> list[Action]:
        self.state = State.READY
        then, self._then = self._then, None
        return self._close(then)

    def _close(self, closing: Closing | None) -> list[Action]:
        if closing is None:
            return []
        self.state = State.CLOSED
        self.queue.clear()
        return [Tell(closing)]
