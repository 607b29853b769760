"""uvicorn's HTTP and WebSocket protocols with the rules the Jupyter relay keeps: a connection
that never finishes its request is closed after ``HANDSHAKE_TIMEOUT``; past ``max_open`` open
connections a new one is closed at once (file descriptors stay for the clients already in); a
text frame that is not UTF-8 reaches the app (whose codec answers INVALID_MESSAGE, the stream
goes on) instead of closing 1007; a frame over the transport limit is answered with
PAYLOAD_TOO_LARGE before the 1009 close."""

from __future__ import annotations

import json
import logging
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.frames import Frame, Opcode

from ..errors import ErrorCode
from ..events import Error, to_wire

log = logging.getLogger(__name__)
HANDSHAKE_TIMEOUT = 10.0  # seconds from connecting to a whole request line and headers


class GuardedHTTP(H11Protocol):
    max_open = 256  # set from the service's limits when uvicorn is configured
    _waiting: dict["GuardedHTTP", None] = {}  # connections that have not sent a whole request yet, oldest first

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._handshake = None
        if len(self.connections) > self.max_open:
            if not self._waiting:  # every connection is a client at work: this one waits for room
                log.warning("refusing a connection: %d open (limit %d)", len(self.connections) - 1, self.max_open)
                transport.abort()
                return
            oldest = next(iter(self._waiting))  # a half-sent request gives its place to a new client
            oldest._stop_handshake_timer()
            oldest.transport.abort()
        self._waiting[self] = None
        self._handshake = self.loop.call_later(HANDSHAKE_TIMEOUT, self._handshake_expired)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None:
            self._stop_handshake_timer()

    def handle_websocket_upgrade(self, event: Any) -> None:
        self._stop_handshake_timer()
        super().handle_websocket_upgrade(event)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_handshake_timer()
        super().connection_lost(exc)

    def _stop_handshake_timer(self) -> None:
        self._waiting.pop(self, None)
        if getattr(self, "_handshake", None) is not None:
            self._handshake.cancel()
            self._handshake = None

    def _handshake_expired(self) -> None:
        self._handshake = None
        self._waiting.pop(self, None)
        if self.cycle is None and not self.transport.is_closing():
            self.transport.close()


class GuardedWebSocket(WebSocketsSansIOProtocol):
    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type != "text":
            return super().send_receive_event_to_app()
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        if self.close_sent:
            return
        # bad bytes as lone surrogates: the codec refuses such a frame with a code
        self.queue.put_nowait({"type": "websocket.receive", "text": data.decode("utf-8", "surrogateescape")})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def handle_parser_exception(self) -> None:
        close = self.conn.close_sent
        if close is not None and close.code == 1009:
            error = Error(ErrorCode.PAYLOAD_TOO_LARGE, "Frame exceeds the server's transport limit; closing.",
                          details={"max_bytes": self.config.ws_max_size})
            self.transport.write(Frame(Opcode.TEXT, json.dumps(to_wire(error)).encode()).serialize(mask=False))
        super().handle_parser_exception()
