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
import os
import signal
import uuid
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

import numpy as np

from .audio import StreamResampler
from .deepgram_protocol import NET0001, config_from_query, event_message, metadata_message
from .engines import choose_engine_name, get_engine
from .errors import ConfigError, ErrorCode, STTError
from .session import Session

log = logging.getLogger(__name__)
_DRAIN = object()
DRAIN_QUIET = 0.2  # seconds without a frame after SIGTERM: what the client sent is all in


class DeepgramCompatServer:
    """``await server.serve(host, port)``; ``key=None`` accepts any client."""

    def __init__(self, key: str | None = None, idle_timeout: float = 10.0, engine: str = "auto",
                 allow_cloud: bool = False, drain_timeout: float = 10.0):
        """``allow_cloud``: let clients reach Deepgram's cloud with this machine's key. Off by default:
        an offline endpoint must never spend the operator's key for whoever connects; on, it needs
        ``key`` (clients authenticate first)."""
        if allow_cloud and not key:
            raise STTError("Serving the cloud engine needs client authentication.",
                           hint="Pass --key KEY (clients send Authorization: Token KEY), or leave --allow-cloud off.",
                           code=ErrorCode.INVALID_CONFIG)
        self.key = key
        self.idle_timeout = idle_timeout
        self.engine = engine
        self.allow_cloud = allow_cloud
        self.drain_timeout = drain_timeout
        self.port: int | None = None
        self._draining: asyncio.Event | None = None  # set on SIGTERM: streams finish what they have, then 1001

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
            connection.dg_config = config = config_from_query(parse_qsl(url.query, keep_blank_values=True))
            connection.dg_engine = choose_engine_name(self.engine, config.language, cloud=self.allow_cloud)
            if connection.dg_engine == "deepgram" and not self.allow_cloud:
                raise ConfigError("This endpoint serves the offline engines only.")
            if not get_engine(connection.dg_engine, config.language).supports(config.language):
                raise ConfigError(f"No engine here knows language {config.language!r}.")
        except STTError as e:  # a bad query, or a language no engine here knows: 400, before upgrading
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
        session = Session(connection.dg_engine, config.language, None, config=config.with_options(sample_rate=16000))
        session.subscribe(lambda e: outbox.put_nowait(event_message(e, request_id, model)))
        sender = asyncio.create_task(self._send_all(connection, outbox))
        close = (1000, "")
        try:
            await session.start()
            while True:
                message = await self._next(connection)
                if message is None:
                    close = (1011, NET0001)
                    break
                if message is _DRAIN:
                    close = (1001, "server shutting down")
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
                except (ValueError, AttributeError, RecursionError):  # malformed: say so, keep the stream
                    outbox.put_nowait({"type": "Error", "variant": "SchemaError",  # Deepgram's variant for it
                                       "description": "Could not parse a text message as JSON; it was ignored.",
                                       "message": "Could not parse a text message as JSON; it was ignored."})
                    continue
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

    async def _next(self, connection):
        """The next client frame; None after ``idle_timeout`` of silence; _DRAIN once the server
        stops and the frames already on their way are read."""
        if self._draining.is_set():
            try:
                return await asyncio.wait_for(connection.recv(), DRAIN_QUIET)
            except asyncio.TimeoutError:
                return _DRAIN
        receive = asyncio.ensure_future(connection.recv())
        drain = asyncio.ensure_future(self._draining.wait())
        done, _ = await asyncio.wait({receive, drain}, timeout=self.idle_timeout, return_when=asyncio.FIRST_COMPLETED)
        drain.cancel()
        if receive in done:
            return receive.result()  # a closed connection raises here, as recv() does
        receive.cancel()  # recv() is cancellation-safe: no frame is lost
        return await self._next(connection) if drain in done else None

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

        if self.allow_cloud:
            upstream = urlsplit(os.environ.get("DEEPGRAM_URL", "wss://api.deepgram.com"))
            if upstream.port == port and upstream.hostname in ("127.0.0.1", "localhost", "::1", host):
                raise STTError("DEEPGRAM_URL points at this server itself: every stream would loop back here.",
                               hint="Unset DEEPGRAM_URL to reach Deepgram's cloud.", code=ErrorCode.INVALID_CONFIG)

        self._draining = asyncio.Event()
        loop = asyncio.get_running_loop()
        async with websockets.serve(self._handle, host, port, process_request=self._process_request,
                                    process_response=self._process_response, max_size=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            stopped = loop.create_future()
            with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread: no signals
                loop.add_signal_handler(signal.SIGTERM, lambda: stopped.done() or stopped.set_result(None))
            if ready is not None:
                ready.set()
            await stopped
            # SIGTERM: accept nothing new; every stream finalizes what it received, sends it, closes 1001
            server.close(close_connections=False)
            self._draining.set()
            await asyncio.wait_for(server.wait_closed(), self.drain_timeout)


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
