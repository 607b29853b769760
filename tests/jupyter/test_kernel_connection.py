"""The kernel WebSocket as the extension tunes it, in a real server with a real kernel.

A LiveTranscriber's audio frames ask for quiet (``"quiet": true``): the page must get the
``idle`` that closes each message's future but no ``busy`` before it, and the frames must still
reach the widget. Every other message keeps both statuses.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid

import pytest
import websockets
from jupyter_server.services.kernels.connection.base import (deserialize_binary_message, deserialize_msg_from_ws_v1,
                                                             serialize_binary_message, serialize_msg_to_ws_v1)

from stt_notebook.jupyter.kernel_connection import QuietStatus, v1_parts, wants_quiet

from tests.support import TOKEN

V1 = "v1.kernel.websocket.jupyter.org"
FRAME = b"\x00\x01" * 1600  # 100 ms of 16 kHz PCM16


class KernelClient:
    """The few kernel-protocol moves a browser makes, over either WebSocket protocol."""

    def __init__(self, ws, protocol: str | None):
        self.ws, self.protocol, self.session = ws, protocol, uuid.uuid4().hex
        self.statuses: dict[str, list[str]] = {}  # parent msg_id → execution states seen
        self.streams: list[str] = []

    async def send(self, msg_type: str, content: dict, buffers: tuple[bytes, ...] = ()) -> str:
        header = {"msg_id": uuid.uuid4().hex, "msg_type": msg_type, "session": self.session,
                  "username": "test", "date": "2026-01-01T00:00:00Z", "version": "5.3"}
        if self.protocol == V1:
            parts = [json.dumps(p).encode() for p in (header, {}, {}, content)] + list(buffers)
            await self.ws.send(serialize_msg_to_ws_v1(parts, "shell"))
        else:
            msg = {"header": header, "parent_header": {}, "metadata": {}, "content": content,
                   "channel": "shell", "buffers": list(buffers)}
            await self.ws.send(serialize_binary_message(msg) if buffers else json.dumps(msg))
        return header["msg_id"]

    async def receive(self) -> tuple[str, dict]:
        raw = await self.ws.recv()
        if self.protocol == V1:
            channel, parts = deserialize_msg_from_ws_v1(raw)
            msg = {"header": json.loads(parts[0]), "parent_header": json.loads(parts[1]),
                   "content": json.loads(parts[3])}
        else:
            msg = deserialize_binary_message(raw) if isinstance(raw, bytes) else json.loads(raw)
            channel = msg["channel"]
        if channel == "iopub" and msg["header"]["msg_type"] == "status":
            parent = msg["parent_header"].get("msg_id", "")
            self.statuses.setdefault(parent, []).append(msg["content"]["execution_state"])
        elif channel == "iopub" and msg["header"]["msg_type"] == "stream":
            self.streams.append(msg["content"]["text"])
        return channel, msg

    async def settle(self, msg_id: str, timeout: float = 60.0) -> None:
        """Read until the kernel is idle after ``msg_id``."""
        async def idle():
            while "idle" not in self.statuses.get(msg_id, []):
                await self.receive()
        await asyncio.wait_for(idle(), timeout)

    async def execute(self, code: str) -> str:
        msg_id = await self.send("execute_request", {"code": code, "silent": False, "store_history": False,
                                                      "user_expressions": {}, "allow_stdin": False})
        before = len(self.streams)
        await self.settle(msg_id)
        return "".join(self.streams[before:])

    async def widget_message(self, comm_id: str, content: dict, buffers: tuple[bytes, ...] = ()) -> str:
        return await self.send("comm_msg", {"comm_id": comm_id, "data": {"method": "custom", "content": content}},
                               buffers)


def start_kernel(server) -> str:
    req = urllib.request.Request(server["http"] + "api/kernels", data=b"{}", method="POST",
                                 headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req).read())["id"]


@pytest.fixture(scope="module")
def kernel_id(server):
    kid = start_kernel(server)
    yield kid
    req = urllib.request.Request(server["http"] + f"api/kernels/{kid}", method="DELETE",
                                 headers={"Authorization": f"token {TOKEN}"})
    urllib.request.urlopen(req)


@pytest.mark.parametrize("protocol", [V1, None], ids=["v1", "json"])
async def test_audio_frames_reach_the_widget_without_a_busy_flash(server, kernel_id, protocol):
    url = f"ws://127.0.0.1:{server['port']}/jp/api/kernels/{kernel_id}/channels?session_id={uuid.uuid4().hex}"
    async with websockets.connect(url, additional_headers={"Authorization": f"token {TOKEN}"},
                                  subprotocols=[V1] if protocol else None, max_size=None) as ws:
        assert ws.subprotocol == protocol
        kernel = KernelClient(ws, protocol)
        comm_id = (await kernel.execute("from stt_notebook import LiveTranscriber\n"
                                        "w = LiveTranscriber(engine='echo')\nprint(w.model_id)")).strip()
        started = await kernel.widget_message(comm_id, {"type": "start"})
        quiet = [await kernel.widget_message(comm_id, {"type": "audio", "seq": i, "quiet": True}, (FRAME,))
                 for i in range(10)]
        loud = await kernel.widget_message(comm_id, {"type": "audio", "seq": 10}, (FRAME,))
        stopped = await kernel.widget_message(comm_id, {"type": "stop"})
        for msg_id in [started, *quiet, loud, stopped]:
            await kernel.settle(msg_id)
        heard = await kernel.execute("w.wait(30); print(w.audio_seconds)")

    assert all(kernel.statuses[m] == ["idle"] for m in quiet), [kernel.statuses[m] for m in quiet]
    assert kernel.statuses[loud] == ["busy", "idle"]
    assert kernel.statuses[started] == ["busy", "idle"]
    assert float(heard) == pytest.approx(1.1, abs=0.01)  # all 11 frames were transcribed


def test_quiet_status_holds_back_only_the_busy_of_quiet_messages():
    quiet = QuietStatus()
    header = {"msg_type": "comm_msg", "msg_id": "a"}
    quiet.incoming(header, {"data": {"content": {"type": "audio", "quiet": True}}})
    quiet.incoming({"msg_type": "comm_msg", "msg_id": "b"}, {"data": {"content": {"type": "audio"}}})
    status = {"msg_type": "status"}
    def parent(msg_id):
        return lambda: {"msg_id": msg_id}

    assert quiet.drop(status, parent("a"), lambda: {"execution_state": "busy"})
    assert not quiet.drop(status, parent("b"), lambda: {"execution_state": "busy"})
    assert not quiet.drop({"msg_type": "stream"}, parent("a"), lambda: {})
    assert not quiet.drop(status, parent("a"), lambda: {"execution_state": "idle"})
    assert not quiet.pending  # the idle ends the message's story


@pytest.mark.parametrize("content", [None, [], {"data": None}, {"data": {"content": "x"}},
                                     {"data": {"content": {"quiet": "yes"}}}])
def test_malformed_or_other_comm_messages_are_not_quiet(content):
    assert not wants_quiet({"msg_type": "comm_msg"}, content)


def test_v1_parts_reads_header_and_content_of_shell_messages_with_buffers():
    parts = [b'{"h":1}', b"{}", b"{}", b'{"c":2}']
    assert v1_parts(serialize_msg_to_ws_v1(parts + [FRAME], "shell")) == (b'{"h":1}', b'{"c":2}')
    assert v1_parts(serialize_msg_to_ws_v1(parts, "shell")) is None  # no buffer: not audio
    assert v1_parts(serialize_msg_to_ws_v1(parts + [FRAME], "control")) is None
