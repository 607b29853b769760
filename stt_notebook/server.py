"""Jupyter server extension: ``{base_url}ws/stt`` relay, ``stt/health`` and ``stt/info``.

Every connection is one :class:`~stt_notebook.wire.driver.Driver`, as on every other wire;
this module only authenticates and moves frames (parsed by :mod:`stt_notebook.protocol`,
rendered by :mod:`stt_notebook.wire.stt_ws`). Limits are traitlets: ``c.STTRelay.max_sessions = 8`` in a Jupyter config.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from jupyter_server.extension.application import ExtensionApp
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13
from traitlets import Bool, Dict, Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from . import __version__
from .errors import ErrorCode
from .events import Error, to_wire
from .kernel_connection import kernel_connection
from .protocol import Start, parse_frame
from .session import Session
from .wire import stt_ws
from .wire.driver import Closing, Driver, Host, Limits, Outcome, offered_session
from .wire.metrics import Metrics

log = logging.getLogger(__name__)


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
        self.host = Host(Limits(self.max_sessions, self.max_realtime_factor, self.burst_seconds,
                                self.max_queued_frames, self.idle_timeout), self.open_session)
        self.connections: set["STTSocketHandler"] = set()

    @property
    def sessions(self) -> set[Session]:
        return self.host.sessions

    async def drain(self) -> None:
        """Shutdown: every connection takes the frames it already received, sends their finals and
        closes 1001; at most ``drain_timeout`` seconds."""
        connections = list(self.connections)
        await self.host.drain(self.drain_timeout)
        for connection in connections:  # past the bound: close anyway
            connection.close(1001, "server shutting down")

    def open_session(self, start: Start) -> Session:
        return offered_session(start, self.engines, self.models)

    def limits(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.trait_names(config=True) if name != "models"}


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
    here that is bad input like any other: an INVALID_MESSAGE error, and the connection goes on.
    A frame past Tornado's own 10 MiB limit still closes 1009, but the client is told why first."""

    def close(self, code: int | None = None, reason: str | None = None) -> None:
        if code == 1009 and not self.server_terminated and not self.stream.closed():
            error = Error(ErrorCode.PAYLOAD_TOO_LARGE, "Frame exceeds the server's transport limit; closing.",
                          details={"max_bytes": self.params.max_message_size})
            with contextlib.suppress(StreamClosedError):
                self._write_frame(True, 0x1, json.dumps(to_wire(error)).encode())
        super().close(code, reason)

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
    driver: Driver | None = None  # none for a refused upgrade, whose on_close runs without open()

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
        self.relay.connections.add(self)
        self.watch = jupyter_metrics().watch("ws/stt")  # in Jupyter's own /metrics
        self.driver = Driver(self.relay.host, self._tell)

    def on_message(self, message: str | bytes) -> None:
        if self.driver is not None:  # parse (pure, cheap) and hand over: the driver takes it in order
            command = parse_frame(message, self.relay.max_frame_bytes)
            self.watch.received(command)
            self.driver.receive(command)

    def on_close(self) -> None:
        self.relay.connections.discard(self)
        driver, self.driver = self.driver, None
        if driver is not None:  # the client vanished: free the recognizer now
            self.watch.closed(self.close_code)
            asyncio.get_running_loop().create_task(driver.abort())

    # -- frames out --
    def _tell(self, outcome: Outcome) -> None:
        self.watch.told(outcome)
        for frame in stt_ws.render(outcome):
            self.send_frame(frame)
        if isinstance(outcome, Closing):
            self.close(*stt_ws.CLOSE[outcome.why])

    def send_frame(self, frame: dict[str, Any]) -> None:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return
        try:
            written = self.write_message(json.dumps(frame, ensure_ascii=False))
        except WebSocketClosedError:
            return
        written.add_done_callback(_retrieved)  # a client that vanished fails the write: that is not an error here

    def send_error_frame(self, code: str, message: str) -> None:
        self.send_frame(to_wire(Error(code, message)))


_metrics: Metrics | None = None


def jupyter_metrics() -> Metrics:
    """The relay's metrics, registered once into the registry Jupyter's ``/metrics`` serves."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


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
