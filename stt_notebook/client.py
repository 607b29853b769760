"""A client for a Jupyter server's ``/ws/stt`` relay, usable from a notebook or a script.

    async with RelayClient("http://127.0.0.1:8888/", token="…") as relay:
        transcript = await relay.transcribe("call.wav", "ko")

Events arrive as the same :mod:`~stt_notebook.events` classes the in-process Session gives,
and build the same :class:`Transcript`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from .errors import ErrorCode, STTError
from .events import Event, from_wire
from .sources import Source, source_frames
from .transcript import Transcript


def relay_url(server_url: str) -> str:
    """``http(s)://host:port/base/`` (a Jupyter server's URL) → ``ws(s)://host:port/base/ws/stt``."""
    parts = urlsplit(server_url if "://" in server_url else f"http://{server_url}")
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    if not path.endswith("ws/stt/"):
        path += "ws/stt"
    return urlunsplit((scheme, parts.netloc, path.rstrip("/"), "", ""))


class RelayClient:
    """One WebSocket to ``/ws/stt``. ``token`` defaults to ``$JUPYTER_TOKEN``.

    ``binary=True`` sends audio as binary PCM16 frames (the fast path); ``False`` as base64
    ``audio_data`` JSON (the seed protocol).
    """

    def __init__(self, url: str, token: str | None = None, *, binary: bool = True):
        self.url = relay_url(url)
        self.token = token if token is not None else os.environ.get("JUPYTER_TOKEN")
        self.binary = binary
        self._ws = None

    def __repr__(self) -> str:
        return f"<RelayClient {self.url} {'binary' if self.binary else 'base64'}{' open' if self._ws else ''}>"

    async def __aenter__(self) -> "RelayClient":
        import websockets

        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        try:
            self._ws = await websockets.connect(self.url, additional_headers=headers, max_size=None)
        except websockets.exceptions.InvalidStatus as e:
            status = e.response.status_code
            if status in (401, 403):
                raise STTError(f"The server refused the connection ({status}).", code=ErrorCode.AUTH_ERROR,
                               hint="Pass the Jupyter server's token (--token or $JUPYTER_TOKEN).") from None
            raise STTError(f"The server answered {status} at {self.url}.", code=ErrorCode.UPSTREAM_ERROR,
                           hint="Is the stt-notebook extension enabled (jupyter server extension list)?") from None
        except OSError as e:
            raise STTError(f"Cannot reach {self.url}: {e}.", code=ErrorCode.UPSTREAM_ERROR,
                           hint="Check the server URL and that the Jupyter server is running.") from None
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def start(self, **config: Any) -> None:
        await self._ws.send(json.dumps({"type": "start_transcription", "config": config}))

    async def send(self, pcm: bytes) -> None:
        if self.binary:
            await self._ws.send(pcm)
        else:
            await self._ws.send(json.dumps({"type": "audio_data", "audio": base64.b64encode(pcm).decode()}))

    async def stop(self) -> None:
        await self._ws.send(json.dumps({"type": "stop_transcription"}))

    async def receive(self) -> Event | dict[str, Any]:
        """The next server frame: an Event, or the closing summary as a plain dict."""
        frame = json.loads(await self._ws.recv())
        return frame if frame.get("type") == "transcription_stopped" else from_wire(frame)

    async def transcribe(self, source: Source, language: str = "ko", *, engine: str = "auto", model: str | None = None,
                         realtime: bool = True, frame_ms: int = 100,
                         on_event: Callable[[Event], Any] | None = None, **config: Any) -> Transcript:
        """Stream ``source`` through the relay and return the Transcript the server's events build.

        ``config``: Deepgram-named options, sent in ``start_transcription`` with the language, engine and model.
        """
        config = {"language": language, "engine": engine, **({"model": model} if model else {}), **config}
        transcript = Transcript(language=language, engine=engine)
        if isinstance(source, (str, os.PathLike)):
            transcript.source = os.path.basename(os.fspath(source))
        await self.start(**config)

        async def pump() -> None:
            async for frame in source_frames(source, frame_ms, realtime=realtime):
                await self.send(frame)
            await self.stop()

        import websockets

        sender = asyncio.create_task(pump())
        try:
            while not isinstance(item := await self.receive(), dict):
                transcript.add(item)
                if on_event is not None:
                    on_event(item)
        except websockets.exceptions.ConnectionClosed as e:
            raise STTError(f"The relay closed the connection ({e.rcvd.code if e.rcvd else 'no close frame'}).",
                           code=ErrorCode.UPSTREAM_ERROR, hint="See the server log for why.") from None
        finally:
            sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)
        return transcript
