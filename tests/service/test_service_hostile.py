"""``stt-notebook serve`` against hostile and careless clients, run as an operator starts it (a
process of its own, its own process group): probes that hang up, half-sent handshakes, a flood of
connections, signals to the whole group, SIGTERM while a model still loads, DNS rebinding, token
spellings, non-UTF-8 and oversized frames. Each was once a way to crash it or lose a stream."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets
import websockets.exceptions

from stt_notebook import audio

from tests.support import KO_CLIPS, _free_port, corpus_cer, squash_ko

TOKEN = "hostile-service-token"


@contextlib.contextmanager
def service(*args: str, token: str | None = TOKEN, log: Path | None = None):
    """The service in its own process group (as a shell or systemd starts it); yields (port, proc)."""
    port = _free_port()
    command = [sys.executable, "-m", "stt_notebook.cli", "serve", "--port", str(port), *args]
    if token is not None:
        command += ["--token", token]
    with open(log or os.devnull, "w") as err:
        proc = subprocess.Popen(command, stderr=err, start_new_session=True)
        try:
            for _ in range(300):
                with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                    break
                assert proc.poll() is None, "the service did not start"
                time.sleep(0.1)
            yield port, proc
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)


def get(port: int, path: str, headers: dict | None = None) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_probes_that_hang_up_never_kill_the_service():
    """Load balancers and shells probe with a request, or a bare line, then hang up: SIGPIPE once
    killed the single-worker service after 11-21 of them, and a malformed line at once."""
    with service("--lazy", "--engines", "echo") as (port, proc):
        for i in range(1000):
            with socket.create_connection(("127.0.0.1", port)) as s:  # closed at once: the reply meets a closed socket
                if i % 2:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
                s.sendall([b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"GET /info HTTP/1.1\r\n\r\n",
                           b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n", b"\n"][i % 4])
        assert proc.poll() is None, f"the service died: {proc.returncode}"
        assert healthy(port)


def healthy(port: int) -> bool:
    """/health answers 200 once the burst before it has been let go (a burst past the door's limit is
    refused at once, a new request too while the refused ones are being closed)."""
    for _ in range(50):
        with contextlib.suppress(OSError):
            if get(port, "/health") == 200:
                return True
        time.sleep(0.1)
    return False


async def test_half_sent_handshakes_are_closed_and_connections_are_capped():
    with service("--lazy", "--engines", "echo", "--max-connections", "8") as (port, proc):
        idle_fds = open_fds(proc.pid)
        half = []
        for _ in range(300):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET /ws/stt HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
            half.append(s)
        await asyncio.sleep(0.5)
        assert open_fds(proc.pid) - idle_fds < 300 - 50  # past the door's limit they were closed at once
        assert healthy(port)
        await asyncio.sleep(11)  # the handshake timeout: the server closed each
        for s in half:
            s.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                assert s.recv(1024) == b""
            s.close()
        assert open_fds(proc.pid) - idle_fds < 10

        url = f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}"
        tried = await asyncio.gather(*(websockets.connect(url) for _ in range(12)), return_exceptions=True)
        held = [ws for ws in tried if not isinstance(ws, BaseException)]  # handshakes at once: none slip past the cap
        assert len(held) == 8, tried
        assert {e.response.status_code for e in tried if isinstance(e, BaseException)} == {503}
        assert get(port, "/health") == 200
        await held.pop().close()
        await asyncio.sleep(0.2)
        async with websockets.connect(url) as ws:  # room again
            await ws.send(json.dumps({"type": "start_transcription", "config": {"engine": "echo"}}))
            await ws.send(bytes(3200))
            assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "transcript_final"
        for ws in held:
            await ws.close()


async def _echo_stream(port: int) -> tuple[list[dict], int | None]:
    """An echo stream that is mid-way when the signal comes (a minute of audio sent, taken at 10x
    real time): its frames and close code."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}") as ws:
        await ws.send(json.dumps({"type": "start_transcription", "config": {"engine": "echo"}}))
        for _ in range(300):
            await ws.send(bytes(6400))
        frames = [json.loads(await asyncio.wait_for(ws.recv(), 60))]
        frames += [json.loads(m) async for m in ws]
        return frames, ws.close_code


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_to_the_whole_process_group_drains_every_worker(sig):
    """systemd's stop and Ctrl-C signal the group: each worker hears it twice (and once more from
    its supervisor); the drain must run once and finish, not be cut short by the second."""
    with service("--lazy", "--engines", "echo", "--workers", "2") as (port, proc):
        streams = [asyncio.create_task(_echo_stream(port)) for _ in range(4)]
        await asyncio.sleep(2)
        os.killpg(proc.pid, sig)
        results = await asyncio.wait_for(asyncio.gather(*streams), 60)
        proc.wait(30)
    for frames, code in results:
        assert frames[-1]["type"] == "transcription_stopped" and code == 1001, (frames, code)


async def test_sigterm_while_the_model_still_loads_ends_with_finals_or_a_coded_close():
    """A cold Korean model (lazy) takes seconds to load; SIGTERM before any result: within the
    drain the stream gets its finals, or SHUTTING_DOWN, and a 1001 close, and the server exits."""
    path, reference = KO_CLIPS[7]
    pcm = audio.load_pcm16(path)[: 4 * audio.SAMPLE_RATE * 2]
    with service("--lazy", "--engines", "whisper,echo", "--drain-timeout", "10") as (port, proc):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}") as ws:
            await ws.send(json.dumps({"type": "start_transcription", "config": {"language": "ko"}}))
            for frame in audio.frames(pcm, 100):
                await ws.send(frame)
            await asyncio.sleep(1)
            signalled = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            frames = [json.loads(m) async for m in ws]
            code = ws.close_code
        proc.wait(30)
        exited = time.monotonic() - signalled
    assert code == 1001, (frames, code)
    finals = " ".join(f["text"] for f in frames if f["type"] == "transcript_final")
    errors = [f["code"] for f in frames if f["type"] == "error"]
    assert (finals and frames[-1]["type"] == "transcription_stopped") or errors == ["SHUTTING_DOWN"], frames
    if finals:  # the words of the 4 s sent: the reference's beginning, as long as what was heard
        heard = squash_ko(finals)
        assert corpus_cer([squash_ko(reference)[: len(heard)]], [heard]) <= 0.4, finals
    assert exited < 10 + 5, exited  # the drain's 10 s, then uvicorn's brief shutdown


async def test_rebinding_tokens_and_frames_are_refused_by_the_rules_the_relay_keeps(tmp_path):
    log = tmp_path / "service.log"
    with service("--lazy", "--engines", "echo", token=None, log=log) as (port, proc):
        evil = {"Host": f"evil.example:{port}", "Origin": f"http://evil.example:{port}"}
        assert get(port, "/info", evil) == 403  # a page that re-pointed its name here reads nothing
        assert await handshake_status(port, evil) == 403
        assert await handshake_status(port, {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port}"}) == 101
        assert get(port, "/info", {"Host": f"localhost:{port}"}) == 200
    with service("--lazy", "--engines", "echo", log=log) as (port, proc):
        for spelled in ("tok%65n", "token"):  # each spelling that lets a client in is kept out of the log
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?{spelled}={TOKEN}"):
                pass
            assert get(port, f"/info?{spelled}={TOKEN}") == 200
        for bad in ("%C3%A9", "%FF"):  # a token of any characters (é, a byte that is no UTF-8) is only wrong
            assert get(port, f"/info?token={bad}") == 401
            assert get(port, "/metrics", {"Authorization": "token é"}) == 401
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                await websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={bad}")
            assert refused.value.response.status_code == 403
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                await websockets.connect(f"ws://127.0.0.1:{port}/v1/listen?token={bad}")
            assert refused.value.response.status_code == 401
        async with websockets.connect(f"ws://127.0.0.1:{port}/v1/listen?token={TOKEN}&language=ko") as ws:
            assert ws.response.status_code == 101  # ?token= is a way in, as the README says

        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}") as ws:
            await ws.send(json.dumps({"type": "start_transcription", "config": {"engine": "echo"}}))
            await ws.send(bytes(32000))
            await ws.send(b'{"type": "\xff"}', text=True)  # not UTF-8: a coded error, the stream goes on
            await ws.send(bytes(16000))
            await ws.send(json.dumps({"type": "stop_transcription"}))
            frames = []
            while (frame := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != "transcription_stopped":
                frames.append(frame)
            assert [f["code"] for f in frames if f["type"] == "error"] == ["INVALID_MESSAGE"]
            assert frame["audio_seconds"] == 1.5
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}") as ws:
            with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                await ws.send(bytes(11 << 20))  # past the transport's 10 MiB: told why, then 1009
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 30)
        assert reply["code"] == "PAYLOAD_TOO_LARGE" and ws.close_code == 1009
        assert get(port, "/health") == 200 and proc.poll() is None
    text = log.read_text()
    assert TOKEN not in text and "accepted" in text, text[-2000:]


async def handshake_status(port: int, headers: dict) -> int:
    """The HTTP status of a WebSocket handshake naming ``Host`` and ``Origin`` as a browser does."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((f"GET /ws/stt HTTP/1.1\r\nHost: {headers['Host']}\r\nOrigin: {headers['Origin']}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    status = int((await asyncio.wait_for(reader.readline(), 10)).split()[1])
    writer.close()
    return status
