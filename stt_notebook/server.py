"""Jupyter server extension: ``{base_url}ws/stt`` relay, ``stt/health`` and ``stt/info``.

Every connection feeds the same :class:`~stt_notebook.session.Session` as every other path;
this module only authenticates, parses (:mod:`stt_notebook.protocol`), enforces limits and
forwards events. Limits are traitlets: ``c.STTRelay.max_sessions = 8`` in a Jupyter config.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.application import ExtensionApp
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13
from traitlets import Bool, Dict, Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from . import __version__
from .audio import duration, pace_delay
from .errors import ErrorCode, ModelNotFoundError, STTError, UnknownEngineError
from .events import Error, Event, to_wire
from .kernel_connection import kernel_connection
from .protocol import Audio, ProtocolError, Start, Stop, parse_frame, summary_frame
from .session import Session

log = logging.getLogger(__name__)
DRAIN = object()  # queued behind a connection's frames when the server shuts down


class STTRelay(LoggingConfigurable):
    """Limits of the ``/ws/stt`` relay, and the sessions it runs."""

    max_frame_bytes = Int(1 << 20, config=True, help="Largest accepted frame, text or binary (bytes).")
    max_sessions = Int(32, config=True, help="Concurrent transcription sessions across all connections.")
    max_realtime_factor = Float(10.0, config=True,
                                help="Audio is taken at most this many times faster than real time; faster "
                                     "senders wait (backpressure) until max_queued_frames, then get RATE_LIMITED.")
    burst_seconds = Float(10.0, config=True, help="Audio a client may send ahead of the real-time allowance.")
    max_queued_frames = Int(500, config=True, help="Frames waiting per connection before RATE_LIMITED.")
    idle_timeout = Float(60.0, config=True, help="Close a connection silent for this many seconds (0: never).")
    max_connections = Int(64, config=True, help="Open /ws/stt connections; more are refused (HTTP 503).")
    drain_timeout = Float(10.0, config=True,
                          help="On shutdown (SIGTERM), seconds to finish what clients already sent: their finals "
                               "go out, then each connection closes 1001.")
    engines = List(Unicode(), ["vosk", "whisper", "echo"], config=True,
                   help="Engines clients may choose. Add 'deepgram' to let clients spend this server's "
                        "DEEPGRAM_API_KEY ('auto' picks it only then).")
    models = Dict(Unicode(), Unicode(), config=True,
                  help="Extra models clients may choose, by name: {'ko-big': '/srv/models/vosk-ko-big'}. "
                       "Packaged models are offered by their names (ko, tiny.en); a client never sends a path.")
    kernel_nodelay = Bool(True, config=True,
                          help="Turn off Nagle's algorithm on kernel WebSockets, so widget updates reach the "
                               "browser without its ~40 ms delay. False leaves jupyter_server's default.")
    quiet_audio_status = Bool(True, config=True,
                              help="Hold back the kernel's 'busy' status for each live audio frame (its 'idle' "
                                   "still goes), so JupyterLab does not redraw its kernel indicators 20 times "
                                   "a second while recording. False forwards every status.")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.sessions: set[Session] = set()
        self.connections: set["STTSocketHandler"] = set()

    async def drain(self) -> None:
        """Shutdown: every connection takes the frames it already received, sends their finals and
        closes 1001; at most ``drain_timeout`` seconds."""
        connections = list(self.connections)
        for connection in connections:
            connection.inbox.put_nowait(DRAIN)
        closed = [c.closed for c in connections]
        if closed:
            await asyncio.wait(closed, timeout=self.drain_timeout)
        for connection in connections:  # past the bound: close anyway
            if not connection.closed.done():
                connection.close(1001, "server shutting down")

    def limits(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.trait_names(config=True) if name != "models"}

    def offered(self, start: Start) -> tuple[str, str | None]:
        """The engine and model a client's Start may have here: names the operator offered, the
        model resolved to its server path. Anything else is refused alike, so nothing is probed."""
        from .engines import choose_engine_name
        from .engines.models import VOSK_PACKAGES, WHISPER_PACKAGES

        engine = choose_engine_name(start.engine, start.config.language, cloud="deepgram" in self.engines)
        if engine not in self.engines:
            raise UnknownEngineError(f"The {engine} engine is not offered by this server.",
                                     hint=f"Choose one of: {', '.join(self.engines)} (or auto).")
        if start.model is None or start.model in VOSK_PACKAGES or start.model in WHISPER_PACKAGES:
            return engine, start.model
        if start.model in self.models:
            return engine, self.models[start.model]
        raise ModelNotFoundError("No model by that name is offered by this server.",
                                 hint=f"Offered: {', '.join([*VOSK_PACKAGES, *WHISPER_PACKAGES, *self.models])}.")


class HealthHandler(APIHandler):
    @allow_unauthenticated
    def get(self) -> None:
        self.finish({"status": "ok"})


class InfoHandler(APIHandler):
    @web.authenticated
    def get(self) -> None:
        from .doctor import engine_checks
        from .engines import deepgram_key_available

        relay: STTRelay = self.settings["stt_relay"]
        engines = [{"name": name, "usable": ok, "detail": detail} for _, name, ok, detail in engine_checks()]
        self.finish({
            "version": __version__,
            "engines": engines,
            "engine_names": list(relay.engines),  # what clients may choose here
            "deepgram": deepgram_key_available(),  # whether a key is set; never the key
            "audio": {"encoding": "linear16", "sample_rate": 16000, "channels": 1},
            "sessions": {"active": len(relay.sessions), "connections": len(relay.connections)},
            "limits": relay.limits(),
        })


class CheckedTextProtocol(WebSocketProtocol13):
    """Tornado drops the TCP connection, with no close frame, on a text frame that is not UTF-8;
    here that is bad input like any other: an INVALID_MESSAGE error, and the connection goes on."""

    def _handle_message(self, opcode: int, data: bytes) -> Any:
        if opcode == 0x1 and not self._frame_compressed:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                self.handler.send_error_frame(ErrorCode.INVALID_MESSAGE, "Text frames must be UTF-8.")  # type: ignore[attr-defined]
                return None
        return super()._handle_message(opcode, data)


class STTSocketHandler(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """One client connection; at most one running Session at a time."""

    auth_resource = "stt"
    # defaults for a refused upgrade, whose on_close runs without open()
    session: Session | None = None
    idle_timer: asyncio.TimerHandle | None = None
    worker: asyncio.Task | None = None
    busy = False  # the worker is handling a frame
    last_seen = 0.0  # loop time of the last frame in or handled

    @ws_authenticated
    async def get(self, *args: Any, **kwargs: Any) -> None:
        if not await ensure_async(self.authorizer.is_authorized(self, self.current_user, "execute", "stt")):
            raise web.HTTPError(403)
        if len(self.relay.connections) >= self.relay.max_connections:
            raise web.HTTPError(503, "too many /ws/stt connections")
        return await super().get(*args, **kwargs)

    def get_websocket_protocol(self) -> Any:
        protocol = super().get_websocket_protocol()
        if type(protocol) is WebSocketProtocol13:
            protocol.__class__ = CheckedTextProtocol  # same state, one method more careful
        return protocol

    @property
    def relay(self) -> STTRelay:
        return self.settings["stt_relay"]

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.set_nodelay(True)
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()
        self.audio_started = 0.0
        self.relay.connections.add(self)
        self.worker = asyncio.get_running_loop().create_task(self._work())
        self._touch()

    def on_message(self, message: str | bytes) -> None:
        # Parse (pure, cheap) and enqueue: one worker handles messages in order and carries the
        # backpressure. A full queue refuses audio only; control messages always get through.
        self._touch()
        parsed = parse_frame(message, self.relay.max_frame_bytes)
        if isinstance(parsed, Audio) and self.inbox.qsize() >= self.relay.max_queued_frames:
            self.send_error_frame(ErrorCode.RATE_LIMITED, "Audio is arriving faster than it is taken; "
                                  "this frame was dropped.", retry_after=1.0)
            return
        self.inbox.put_nowait(parsed)

    def on_close(self) -> None:
        self.relay.connections.discard(self)
        if hasattr(self, "closed") and not self.closed.done():
            self.closed.set_result(None)
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self.worker is not None:
            self.worker.cancel()
        session, self.session = self.session, None
        if session is not None:  # the client vanished: free the recognizer now
            self.relay.sessions.discard(session)
            asyncio.get_running_loop().create_task(session.abort())

    # -- frames out --
    def send_frame(self, frame: dict[str, Any]) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        try:
            written = self.write_message(json.dumps(frame, ensure_ascii=False))
        except WebSocketClosedError:
            return
        written.add_done_callback(_retrieved)  # a client that vanished fails the write: that is not an error here

    def send_error_frame(self, code: str, message: str, details: dict | None = None,
                         retry_after: float | None = None) -> None:
        self.send_frame(to_wire(Error(code, message, retry_after, details)))

    def _on_event(self, event: Event) -> None:
        self.send_frame(to_wire(event))

    # -- the worker --
    async def _work(self) -> None:
        while True:
            message = await self.inbox.get()
            self.busy = True
            try:
                await self._handle(message)
            except STTError as e:
                self.send_error_frame(e.code, str(e))
            except Exception as e:  # the connection and the server stay up
                log.exception("stt relay: unexpected failure")
                self.send_error_frame(ErrorCode.ENGINE_ERROR, f"Unexpected failure: {type(e).__name__}: {e}")
            finally:
                self.busy = False
                self.last_seen = asyncio.get_running_loop().time()

    async def _handle(self, message: Any) -> None:
        if isinstance(message, ProtocolError):
            self.send_frame(message.frame())
        elif isinstance(message, Start):
            if self.session is not None:
                await self._stop()
            await self._start(message)
        elif isinstance(message, Audio):
            if not message.pcm:
                return
            if self.session is None:
                await self._start(Start())
            await self._pace(self.session, duration(message.pcm))
            await self.session.send(message.pcm)
        elif isinstance(message, Stop):
            await self._stop()
        elif message is DRAIN:  # the server is stopping: what came before this is finalized, then 1001
            await self._stop()
            self.close(1001, "server shutting down")

    async def _start(self, start: Start) -> None:
        if len(self.relay.sessions) >= self.relay.max_sessions:
            raise STTError(f"The server already runs {self.relay.max_sessions} transcription sessions.",
                           hint="Try again later, or raise c.STTRelay.max_sessions.", code=ErrorCode.TOO_MANY_SESSIONS)
        engine, model = self.relay.offered(start)
        session = Session(engine, start.config.language, model, config=start.config)
        session.subscribe(self._on_event)
        self.relay.sessions.add(session)
        try:
            await session.start()
        except BaseException:
            self.relay.sessions.discard(session)
            raise
        self.session = session
        self.audio_started = time.monotonic()

    async def _pace(self, session: Session, seconds: float) -> None:
        """Backpressure: audio ahead of max_realtime_factor waits here, so frames queue up in the
        inbox, and past max_queued_frames they are refused with RATE_LIMITED (see on_message)."""
        delay = pace_delay(session.audio_seconds + seconds, time.monotonic() - self.audio_started,
                           self.relay.max_realtime_factor, self.relay.burst_seconds)
        if delay > 0:
            await asyncio.sleep(delay)

    async def _stop(self) -> None:
        session, self.session = self.session, None
        if session is None:
            self.send_frame(summary_frame(0, 0, 0.0, ""))
            return
        try:
            transcript = await session.stop()
        finally:
            self.relay.sessions.discard(session)
        self.send_frame(summary_frame(len(transcript), len(transcript.words), session.audio_seconds, transcript.text))

    def _touch(self) -> None:
        """Note activity. One timer per connection re-arms itself, rather than one per frame."""
        loop = asyncio.get_running_loop()
        self.last_seen = loop.time()
        if self.idle_timer is None and self.relay.idle_timeout > 0:
            self.idle_timer = loop.call_later(self.relay.idle_timeout, self._idle)

    def _idle(self) -> None:
        loop = asyncio.get_running_loop()
        due = self.last_seen + self.relay.idle_timeout
        if self.busy or self.inbox.qsize() or loop.time() < due:  # active since, or still working
            self.idle_timer = loop.call_at(max(due, loop.time() + 0.1), self._idle)
            return
        self.idle_timer = None
        self.send_error_frame(ErrorCode.IDLE_TIMEOUT, f"No message for {self.relay.idle_timeout:g} s; closing.")
        self.close(1000, "idle timeout")


def _retrieved(future: Any) -> None:
    if not future.cancelled():
        future.exception()


class STTExtension(ExtensionApp):
    """The server extension as a Jupyter ExtensionApp: the server calls ``stop_extension`` on
    shutdown (SIGTERM included), after it stopped accepting connections, so streams drain."""

    name = "stt_notebook"
    load_other_extensions = True

    def initialize_settings(self) -> None:
        relay = STTRelay(parent=self.serverapp)  # configured as c.STTRelay.…, as before
        settings = self.settings  # copied from the web app before, and written back over it after, this call
        settings["stt_relay"] = self.relay = relay
        settings["kernel_websocket_connection_class"] = kernel_connection(
            settings["kernel_websocket_connection_class"], nodelay=relay.kernel_nodelay,
            quiet_status=relay.quiet_audio_status)

    def initialize_handlers(self) -> None:
        self.handlers.extend([("stt/health", HealthHandler), ("stt/info", InfoHandler), ("ws/stt", STTSocketHandler)])
        self.serverapp.log.info("stt-notebook: /ws/stt relay ready")

    async def stop_extension(self) -> None:
        await self.relay.drain()
