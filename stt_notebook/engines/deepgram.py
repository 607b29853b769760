"""Deepgram live engine: the real ``/v1/listen`` protocol over ``websockets``.

Key from ``DEEPGRAM_API_KEY`` (environment or a ``.env`` file), URL from ``DEEPGRAM_URL``
(default ``wss://api.deepgram.com``; ``ws://127.0.0.1:8080`` reaches ``serve-deepgram``). Audio is
paced to at most ~1.25x real time, KeepAlive flows while no audio does, ``finalize()`` sends
Finalize, ``close()`` sends CloseStream and reads until the server closes. After an unexpected
close the stream reconnects with backoff and resends the audio after the last finalized word,
re-basing timestamps so times stay continuous. The key never appears in messages, logs or reprs.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import urlencode

from ..audio import pace_delay
from ..config import StreamConfig
from ..deepgram.protocol import (CLOSE_STREAM, FINALIZE, KEEPALIVE, Metadata, build_query, close_error,
                                 handshake_error, parse_message)
from ..errors import EngineUnavailableError, ErrorCode
from ..events import Error, Event, Final, shift
from .base import BYTES_PER_SECOND, Capabilities, Engine, EngineStream

KEEPALIVE_EVERY = 5.0
MAX_SPEED = 1.25  # × real time, Deepgram's documented ceiling
BURST_SECONDS = 2.0
RECONNECTS = 3


def read_key() -> str | None:
    """DEEPGRAM_API_KEY from the environment, else from a ``.env`` file in the working directory."""
    key = os.environ.get("DEEPGRAM_API_KEY")
    if key:
        return key.strip()
    env = Path(".env")
    if env.is_file():
        for line in env.read_text(encoding="utf-8", errors="replace").splitlines():
            name, _, value = line.partition("=")
            if name.strip().removeprefix("export ").strip() == "DEEPGRAM_API_KEY":
                return value.strip().strip("'\"") or None
    return None


class DeepgramEngine(Engine):
    name = "deepgram"
    capabilities = Capabilities(all_options=True, writes_korean=True)

    def __init__(self, model: str | None = None, key: str | None = None, url: str | None = None):
        self._key = key or read_key()
        if not self._key:
            raise EngineUnavailableError("The deepgram engine needs an API key.",
                                         hint="Set DEEPGRAM_API_KEY (environment or .env), or use an offline engine.")
        self.model = model
        self.url = (url or os.environ.get("DEEPGRAM_URL") or "wss://api.deepgram.com").rstrip("/")
        self.url = self.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1)

    def __repr__(self) -> str:
        return f"<DeepgramEngine {self.url} model={self.model or 'nova-2'}>"  # never the key

    def supports(self, language: str) -> bool:
        return True

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "model": self.model or "nova-2"}

    def stream(self, config: StreamConfig) -> "DeepgramStream":
        if self.model and not config.model:
            config = config.with_options(model=self.model)
        query = urlencode(build_query(config))  # the documented rules fail here, before connecting
        return DeepgramStream(f"{self.url}/v1/listen?{query}", self._key, config)


class DeepgramStream(EngineStream):
    def __init__(self, url: str, key: str, config: StreamConfig):
        self.config = config
        self._url = url
        self._key = key
        self._out: asyncio.Queue = asyncio.Queue()
        self._ws = None
        self._connected = asyncio.Event()
        self._closing = False
        self._failed: Error | None = None
        self._audio = bytearray()  # audio not yet covered by a final (resent after a reconnect)
        self._audio_start = 0.0  # stream seconds at _audio[0]
        self._sent_seconds = 0.0  # stream seconds sent so far
        self._offset = 0.0  # stream seconds at the current connection's 0
        self._started = time.monotonic()
        self._last_send = time.monotonic()
        self._task = asyncio.get_running_loop().create_task(self._run())

    def __repr__(self) -> str:
        return f"<DeepgramStream {self._url.split('?')[0]} sent={self._sent_seconds:.1f}s>"

    # -- sending --
    async def send(self, pcm: bytes) -> None:
        self._check_open()
        if not pcm:
            return  # never an empty binary frame: Deepgram reads it as end of stream
        delay = pace_delay(self._sent_seconds, time.monotonic() - self._started, MAX_SPEED, BURST_SECONDS)
        if delay > 0:
            await asyncio.sleep(delay)
        self._audio += pcm
        self._sent_seconds += len(pcm) / BYTES_PER_SECOND
        if self._connected.is_set():
            await self._send(bytes(pcm))
        # else: the connection being opened sends everything in _audio when it is up

    async def _send(self, message: bytes | str) -> None:
        import websockets

        try:
            if self._ws is not None:
                await self._ws.send(message)
                self._last_send = time.monotonic()
        except websockets.exceptions.ConnectionClosed:
            pass  # the reader reconnects and resends what was not finalized

    async def finalize(self) -> None:
        await self._connected.wait()
        await self._send(FINALIZE)

    async def close(self) -> None:
        if not self._closing:
            self._closing = True
            if not self._task.done():
                await self._connected.wait()
                await self._send(CLOSE_STREAM)

    async def abort(self) -> None:
        self._closing = True
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def __aiter__(self) -> AsyncIterator[Event]:  # type: ignore[override]
        while (event := await self._out.get()) is not None:
            yield event
        self._out.put_nowait(None)

    # -- the connection --
    async def _connect(self):
        import websockets

        try:
            return await websockets.connect(self._url, additional_headers={"Authorization": f"Token {self._key}"},
                                            max_size=None, open_timeout=15)
        except websockets.exceptions.InvalidStatus as e:
            response = e.response
            body = response.body.decode("utf-8", "replace") if response.body else response.headers.get("dg-error", "")
            raise _Refused(handshake_error(response.status_code, body, response.headers.get("Retry-After"))) from None
        except (OSError, websockets.exceptions.InvalidHandshake) as e:
            raise _Refused(Error(ErrorCode.UPSTREAM_ERROR, f"Cannot reach Deepgram at {self._url.split('?')[0]}: "
                                 f"{type(e).__name__}.", details={"retryable": True})) from None

    async def _run(self) -> None:
        import websockets

        keepalive = asyncio.get_running_loop().create_task(self._keepalive())
        attempt = 0
        try:
            while True:
                try:
                    self._ws = await self._connect()
                except _Refused as refused:
                    retryable = (refused.error.details or {}).get("retryable") or refused.error.code == ErrorCode.RATE_LIMITED
                    if retryable and attempt < RECONNECTS and self._audio_start > 0:
                        attempt += 1
                        await asyncio.sleep(refused.error.retry_after or 0.5 * 2 ** attempt)
                        continue
                    self._fail(refused.error)
                    return
                await self._resend()
                self._connected.set()  # right after the last check in _resend: no audio falls between
                try:
                    async for message in self._ws:
                        if isinstance(message, str):
                            self._receive(parse_message(message))
                    code, reason = self._ws.close_code or 1006, self._ws.close_reason or ""
                except websockets.exceptions.ConnectionClosed as e:
                    code, reason = (e.rcvd.code, e.rcvd.reason) if e.rcvd else (1006, "")
                self._connected.clear()
                error = close_error(code, reason)
                if error is None and self._closing:
                    return  # CloseStream answered: every final is in
                if code == 1008 or attempt >= RECONNECTS:
                    self._fail(error or Error(ErrorCode.UPSTREAM_ERROR, "Deepgram closed the stream early."))
                    return
                attempt += 1  # an unexpected close: reconnect and resend what was not finalized
                await asyncio.sleep(0.25 * 2 ** attempt)
        finally:
            keepalive.cancel()
            self._connected.set()  # release waiting senders
            self._out.put_nowait(None)

    async def _resend(self) -> None:
        """Start a (re)connection: send the audio not yet finalized (its times count from there),
        including what arrives meanwhile, then mark the stream connected with no await between."""
        self._offset = self._audio_start
        sent = 0
        while sent < len(self._audio):
            chunk = bytes(self._audio[sent:])
            await self._ws.send(chunk)
            sent += len(chunk)
        self._last_send = time.monotonic()

    def _receive(self, message: Any) -> None:
        if message is None or isinstance(message, Metadata):
            return
        event = shift(message, self._offset)
        if isinstance(event, Final) and event.words:
            # the audio up to the last finalized word is settled: never resent
            cut = int((event.words[-1].end - self._audio_start) * BYTES_PER_SECOND) // 2 * 2
            if cut > 0:
                del self._audio[:cut]
                self._audio_start += cut / BYTES_PER_SECOND
        self._out.put_nowait(event)

    def _fail(self, error: Error) -> None:
        self._failed = error
        self._closing = True
        self._out.put_nowait(error)

    async def _keepalive(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._connected.is_set() and time.monotonic() - self._last_send >= KEEPALIVE_EVERY:
                await self._send(KEEPALIVE)


class _Refused(Exception):
    def __init__(self, error: Error):
        super().__init__(error.message)
        self.error = error
