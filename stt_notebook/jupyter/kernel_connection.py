"""The kernel WebSocket tuned for live widgets: no Nagle delay, no busy flash per audio frame.

Two costs the stock ``jupyter_server`` connection puts on every live update:

- it never calls ``set_nodelay``, so small kernel → browser messages wait ~40 ms for Nagle's
  algorithm and the browser's delayed ACK;
- each audio frame a LiveTranscriber sends is a ``comm_msg``, and the kernel answers every shell
  message with a ``busy`` then an ``idle`` status. JupyterLab redraws its kernel indicators for
  each change, 20 times a second while recording, on the page's main thread, and widget updates
  queue behind that (``benchmarks/widget_latency.py``). The handler only hands the frame off, so
  the kernel is not busy in any sense a person cares about: the connection drops the ``busy``
  status of messages that ask for it (``"quiet": true`` in their content) and keeps the ``idle``,
  which is what closes the message's future in the page and what it already shows.

:class:`QuietStatus` decides from parsed headers (pure, no I/O); :func:`kernel_connection` wraps
whichever connection class the server uses.
"""

from __future__ import annotations

import collections
from typing import Any, Callable

from jupyter_server.services.kernels.connection.base import deserialize_binary_message

MAX_PENDING = 1000  # quiet messages awaiting their idle (a dead kernel never sends it)


def wants_quiet(header: dict[str, Any], content: dict[str, Any]) -> bool:
    """A browser → kernel comm message that asks not to flash the kernel busy."""
    data = content.get("data") if isinstance(content, dict) else None
    inner = data.get("content") if isinstance(data, dict) else None
    return header.get("msg_type") == "comm_msg" and isinstance(inner, dict) and inner.get("quiet") is True


class QuietStatus:
    """Which kernel status messages to hold back: the ``busy`` of each quiet message."""

    def __init__(self) -> None:
        self.pending: collections.OrderedDict[str, None] = collections.OrderedDict()

    def incoming(self, header: dict[str, Any], content: dict[str, Any]) -> None:
        if wants_quiet(header, content) and isinstance(msg_id := header.get("msg_id"), str):
            self.pending[msg_id] = None
            while len(self.pending) > MAX_PENDING:
                self.pending.popitem(last=False)

    def drop(self, header: dict[str, Any], parent: Callable[[], dict[str, Any]],
             content: Callable[[], dict[str, Any]]) -> bool:
        """Whether to hold back this IOPub message. Every update passes here while audio flows, so
        ``parent`` and ``content`` are parsed only for status messages."""
        if header.get("msg_type") != "status" or (msg_id := parent().get("msg_id")) not in self.pending:
            return False
        state = content().get("execution_state")
        if state == "busy":
            return True
        if state == "idle":
            self.pending.pop(msg_id, None)
        return False


V1 = "v1.kernel.websocket.jupyter.org"


def kernel_connection(connection_class: type, *, nodelay: bool, quiet_status: bool) -> type:
    """``connection_class`` (whichever the server uses) with the chosen tunings."""
    if not (nodelay or quiet_status) or getattr(connection_class, "stt_tuned", False):
        return connection_class

    class Tuned(connection_class):  # type: ignore[misc, valid-type]
        stt_tuned = True

        def connect(self):  # type: ignore[no-untyped-def]
            self.stt_quiet = QuietStatus() if quiet_status else None
            if nodelay:
                self.websocket_handler.set_nodelay(True)
            return super().connect()

        def handle_incoming_message(self, incoming_msg: Any) -> None:
            if getattr(self, "stt_quiet", None) is not None:
                self._note_quiet(incoming_msg)
            super().handle_incoming_message(incoming_msg)

        def handle_outgoing_message(self, stream: Any, outgoing_msg: list[Any]) -> None:
            quiet = getattr(self, "stt_quiet", None)
            if quiet is not None and quiet.pending and _channel(stream) == "iopub":
                _, parts = self.session.feed_identities(outgoing_msg)
                unpack = self.session.unpack
                if quiet.drop(unpack(parts[1]), lambda: unpack(parts[2]), lambda: unpack(parts[4])):
                    return
            super().handle_outgoing_message(stream, outgoing_msg)

        def _note_quiet(self, incoming_msg: Any) -> None:
            try:
                if self.subprotocol == V1:
                    parts = v1_parts(incoming_msg)
                    if parts is None:
                        return
                    header, content = self.session.unpack(parts[0]), self.session.unpack(parts[1])
                elif isinstance(incoming_msg, str):
                    return  # the JSON protocol sends binary buffers as bytes; audio is never text
                else:
                    msg = deserialize_binary_message(incoming_msg)
                    header, content = msg.get("header") or {}, msg.get("content") or {}
                self.stt_quiet.incoming(header, content)
            except Exception:  # not ours to judge: the stock handler reports malformed messages
                return

    Tuned.__name__ = Tuned.__qualname__ = f"Tuned{connection_class.__name__}"
    return Tuned


def v1_parts(ws_msg: bytes) -> tuple[bytes, bytes] | None:
    """(header, content) of a v1-protocol shell message with buffers, copying nothing else.

    The v1 layout: a count n, n little-endian 8-byte offsets, then channel, header, parent,
    metadata, content and buffers. Audio frames always carry a buffer; other messages give None.
    """
    count = int.from_bytes(ws_msg[:8], "little")
    if count < 7:  # channel + 4 message parts + at least one buffer, + the end offset
        return None
    at = [int.from_bytes(ws_msg[8 * (i + 1):8 * (i + 2)], "little") for i in range(6)]
    if ws_msg[at[0]:at[1]] != b"shell":
        return None
    return ws_msg[at[1]:at[2]], ws_msg[at[4]:at[5]]


def _channel(stream: Any) -> str | None:
    """The server passes a channel name or a ZMQ stream carrying one."""
    return stream if isinstance(stream, str) else getattr(stream, "channel", None)
