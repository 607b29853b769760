"""``serve-deepgram``: Deepgram's live ``/v1/listen`` served by the offline engines.

Any Deepgram client (the project's own engine included) runs offline against it: the same query
parameters (rules enforced with HTTP 400), Results / SpeechStarted / UtteranceEnd / Metadata
messages, KeepAlive, Finalize and CloseStream, ``dg-request-id`` on every response, token auth,
an idle timeout closing 1011 (NET-0001) and 1008 (DATA-0000) for audio it cannot decode.
Audio goes through the same :class:`~stt_notebook.session.Session` as every other path.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hmac
import json
import logging
import uuid
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from .audio import StreamResampler
from .deepgram_protocol import NET0001, config_from_query, event_message, metadata_message
from .errors import ConfigError, STTError
from .session import Session

log = logging.getLogger(__name__)


class DeepgramCompatServer:
    """``await server.serve(host, port)``; ``key=None`` accepts any client."""

    def __init__(self, key: str | None = None, idle_timeout: float = 10.0, engine: str = "auto"):
        self.key = key
        self.idle_timeout = idle_timeout
        self.engine = engine
        self.port: int | None = None

    def __repr__(self) -> str:
        return f"<DeepgramCompatServer auth={'token' if self.key else 'off'} idle_timeout={self.idle_timeout}s>"

    # -- the handshake --
    def _authorized(self, request) -> tuple[bool, str | None]:
        """(ok, subprotocol to echo). Header ``Token``/``Bearer`` or subprotocols ["token", KEY]."""
        if self.key is None:
            return True, None
        scheme, _, secret = (request.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() in ("token", "bearer") and hmac.compare_digest(secret.strip(), self.key):
            return True, None
        offered = [p.strip() for p in (request.headers.get("Sec-WebSocket-Protocol") or "").split(",")]
        if len(offered) == 2 and offered[0].lower() in ("token", "bearer") and hmac.compare_digest(offered[1], self.key):
            return True, offered[0]
        return False, None

    def _refuse(self, connection, status: HTTPStatus, code: str, message: str, request_id: str):
        body = json.dumps({"err_code": code, "err_msg": message, "request_id": request_id})
        response = connection.respond(status, body + "\n")
        response.headers["dg-request-id"] = request_id
        response.headers["dg-error"] = body
        response.headers["Content-Type"] = "application/json"
        return response

    async def _process_request(self, connection, request):
        request_id = str(uuid.uuid4())
        connection.dg_request_id = request_id
        url = urlsplit(request.path)
        if url.path.rstrip("/") != "/v1/listen":
            return self._refuse(connection, HTTPStatus.NOT_FOUND, "NOT_FOUND", "Only /v1/listen is served.", request_id)
        ok, subprotocol = self._authorized(request)
        if not ok:
            return self._refuse(connection, HTTPStatus.UNAUTHORIZED, "INVALID_AUTH", "Invalid credentials.", request_id)
        try:
            connection.dg_config = config_from_query(parse_qsl(url.query, keep_blank_values=True))
        except ConfigError as e:
            return self._refuse(connection, HTTPStatus.BAD_REQUEST, "Bad Request", str(e), request_id)
        connection.dg_subprotocol = subprotocol
        return None

    def _process_response(self, connection, request, response):
        if "dg-request-id" not in response.headers:  # refusals carry it already
            response.headers["dg-request-id"] = getattr(connection, "dg_request_id", "")
        subprotocol = getattr(connection, "dg_subprotocol", None)
        if subprotocol and response.status_code == 101:
            response.headers["Sec-WebSocket-Protocol"] = subprotocol
        return response

    # -- one stream --
    async def _handle(self, connection) -> None:
        config = connection.dg_config
        request_id = connection.dg_request_id
        model = config.model or "nova-2"
        resample = StreamResampler(config.sample_rate)
        outbox: asyncio.Queue = asyncio.Queue()
        session = Session(self.engine, config.language, None, config=config.with_options(sample_rate=16000))
        session.subscribe(lambda e: outbox.put_nowait(event_message(e, request_id, model)))
        sender = asyncio.create_task(self._send_all(connection, outbox))
        close = (1000, "")
        try:
            await session.start()
            while True:
                try:
                    message = await asyncio.wait_for(connection.recv(), self.idle_timeout)
                except asyncio.TimeoutError:
                    close = (1011, NET0001)
                    break
                if isinstance(message, bytes):
                    if not message:
                        break  # the deprecated empty frame means CloseStream
                    if len(message) % (2 * config.channels):
                        close = (1008, "DATA-0000")
                        break
                    pcm = np.frombuffer(message, "<i2")
                    if config.channels > 1:
                        pcm = pcm.reshape(-1, config.channels).mean(axis=1).astype("<i2")
                    await session.send(resample(pcm))
                    continue
                try:
                    kind = json.loads(message).get("type")
                except (ValueError, AttributeError):
                    kind = None
                if kind == "Finalize":
                    await session.finalize()
                elif kind == "CloseStream":
                    break
                # KeepAlive needs no answer; unknown types are ignored, as Deepgram does
        except STTError as e:
            outbox.put_nowait({"type": "Error", "variant": e.code, "description": str(e), "message": str(e)})
            close = (1011, "NET-0000")
        except Exception:  # the client went away
            log.debug("deepgram stream ended early", exc_info=True)
        finally:
            if session.running and (tail := resample(b"", last=True)):
                with contextlib.suppress(STTError):
                    await session.send(tail)  # the resampler's last samples
            await session.stop()  # drains every final before Metadata
            created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            outbox.put_nowait(metadata_message(request_id, session.audio_seconds, config.channels, model, created))
            outbox.put_nowait(None)
            await sender
            await connection.close(*close)

    @staticmethod
    async def _send_all(connection, outbox: asyncio.Queue) -> None:
        import websockets

        while (message := await outbox.get()) is not None:
            try:
                await connection.send(json.dumps(message, ensure_ascii=False))
            except websockets.exceptions.ConnectionClosed:
                pass

    async def serve(self, host: str = "127.0.0.1", port: int = 8080, ready: asyncio.Event | None = None):
        """Serve until cancelled. ``port=0`` picks a free port (see ``self.port``)."""
        import websockets

        async with websockets.serve(self._handle, host, port, process_request=self._process_request,
                                    process_response=self._process_response, max_size=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            if ready is not None:
                ready.set()
            await asyncio.Future()


class LocalDeepgram:
    """``stt-notebook serve-deepgram`` in a child process, for notebooks and scripts without a key.

        local = LocalDeepgram(key="demo")           # started; local.url is ws://127.0.0.1:PORT
        os.environ.update(local.environment())      # DEEPGRAM_URL and DEEPGRAM_API_KEY for the engine
        local.stop()
    """

    def __init__(self, key: str = "local-demo-key", port: int = 0, timeout: float = 30.0):
        import socket
        import subprocess
        import sys
        import time

        if port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.key, self.port, self.url = key, port, f"ws://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "stt_notebook.cli", "serve-deepgram", "--port", str(port), "--key", key],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise STTError("serve-deepgram did not start.",
                                   hint="Run `stt-notebook serve-deepgram` in a terminal to see why.") from None
                time.sleep(0.1)

    def __repr__(self) -> str:
        state = "running" if self._process.poll() is None else "stopped"
        return f"<LocalDeepgram {self.url} {state}>"

    def environment(self) -> dict[str, str]:
        return {"DEEPGRAM_URL": self.url, "DEEPGRAM_API_KEY": self.key}

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
