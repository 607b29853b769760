"""The Jupyter server's handlers for the relay: ``{base_url}ws/stt``, ``stt/health`` and ``stt/info``.

Every connection is one :class:`~stt_notebook.wire.runner.Link`, as on every other host; a
handler only authenticates and moves frames (:mod:`stt_notebook.wire.stt_ws` parses and renders).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import allow_unauthenticated, ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketHandler, WebSocketProtocol13

from ..errors import ErrorCode
from ..events import Error, to_wire
from ..serving import info_document
from ..wire import stt_ws
from ..wire.runner import Link
from ..wire.metrics import Metrics

if TYPE_CHECKING:
    from .relay import STTRelay


class HealthHandler(APIHandler):
    @allow_unauthenticated
    def get(self) -> None:
        self.finish({"status": "ok"})


class InfoHandler(APIHandler):
    @web.authenticated
    def get(self) -> None:
        relay: "STTRelay" = self.settings["stt_relay"]
        self.finish(info_document(relay.engines, relay.limits(), {"active": len(relay.sessions),
                                                                  "connections": len(relay.connections)},
                                  {"encoding": "linear16", "sample_rate": 16000, "channels": 1}))


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
    link: Link | None = None  # none for a refused upgrade, whose on_close runs without open()

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
    def relay(self) -> "STTRelay":
        return self.settings["stt_relay"]

    def open(self, *args: Any, **kwargs: Any) -> None:
        super().open(*args, **kwargs)
        self.set_nodelay(True)
        self.relay.connections.add(self)
        self.link = Link(self.relay.host, stt_ws.RelayCodec(self.relay.max_frame_bytes), self.send_frame, self.close,
                         watch=jupyter_metrics().watch("ws/stt"))  # in Jupyter's own /metrics

    def on_message(self, message: str | bytes) -> None:
        if self.link is not None:  # parse (pure, cheap) and hand over: the connection takes it in order
            self.link.frame(message)

    def on_close(self) -> None:
        self.relay.connections.discard(self)
        link, self.link = self.link, None
        if link is not None:  # the client vanished: free the recognizer now
            asyncio.get_running_loop().create_task(link.hang_up())

    # -- frames out --

    def send_frame(self, frame: dict[str, Any]) -> Any:
        if self.ws_connection is None or self.ws_connection.is_closing():
            return None
        try:
            written = self.write_message(json.dumps(frame, ensure_ascii=False))
        except WebSocketClosedError:
            return None
        written.add_done_callback(_retrieved)  # a client that vanished fails the write: that is not an error here
        return None  # not awaited: Tornado buffers in order, and a reader that never reads must not hold the link

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
