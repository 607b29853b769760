"""``stt-notebook serve``: the standalone service, an ASGI app (Starlette) on the shared connection.

Routes: ``WS /ws/stt`` (the seed protocol, as in Jupyter), ``WS /v1/listen`` (Deepgram's),
``GET /health`` (open), ``GET /info`` and ``GET /metrics`` (behind the token), ``GET /`` (a page:
the widget's own live view over ``/ws/stt``). Handlers only authenticate and move frames: each
connection is one :class:`~stt_notebook.wire.runner.Link`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..config import ENCODINGS
from ..incoming import CONTAINERS
from ..engines import warm
from ..errors import ErrorCode, STTError
from ..serving import SETTINGS, info_document
from ..session import Session
from ..wire import stt_ws
from ..wire.auth import header_token, host_allowed, is_loopback, secret_matches
from ..wire.connection import Limits
from ..wire.listen import ListenCodec, authorized, refusal
from ..wire.offer import offered_session, stream_for
from ..wire.runner import Host, Link
from ..wire.vocabulary import Start
from ..wire.metrics import Metrics

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
WIDGET_STATIC = Path(__file__).parent.parent / "widget" / "static"


@dataclass
class ServiceConfig:
    """What the operator decides: who may connect, what they may run, the limits."""

    token: str | None = None
    engines: tuple[str, ...] = SETTINGS["engines"].default
    models: dict[str, str] = field(default_factory=dict)
    allowed_origins: tuple[str, ...] = ()
    limits: Limits = field(default_factory=Limits)
    listen_idle_timeout: float = 10.0  # Deepgram closes a silent stream after about 10 s (NET-0001)
    max_frame_bytes: int = SETTINGS["max_frame_bytes"].default
    drain_timeout: float = SETTINGS["drain_timeout"].default
    json_logs: bool = False
    host: str = "127.0.0.1"  # the address bound: on loopback, browsers must name this machine (DNS rebinding)
    allow_cloud: bool = False  # /v1/listen may reach Deepgram's cloud with this machine's key (needs a token)
    preload: bool = False  # load the offered offline engines at start, not on their first client (the CLI's default)

    def check(self, host: str, port: int) -> None:
        """Refuse what would spend the operator's key for strangers, or loop back to itself."""
        if self.allow_cloud and not self.token:
            raise STTError("Serving the cloud engine needs client authentication.",
                           hint="Pass --key KEY (clients send Authorization: Token KEY), or leave --allow-cloud off.",
                           code=ErrorCode.INVALID_CONFIG)
        if self.allow_cloud:
            upstream = urlsplit(os.environ.get("DEEPGRAM_URL", "wss://api.deepgram.com"))
            name = (upstream.hostname or "").rstrip(".").lower()
            if upstream.port == port and (is_loopback(name) or name == host.lower() or host in ("0.0.0.0", "::")):
                raise STTError("DEEPGRAM_URL points at this server itself: every stream would loop back here.",
                               hint="Unset DEEPGRAM_URL to reach Deepgram's cloud.", code=ErrorCode.INVALID_CONFIG)


class Service:
    """The app's state: one connection host per wire, the metrics, the draining flag."""

    def __init__(self, config: ServiceConfig, registry: CollectorRegistry | None = None):
        self.config = config
        self.registry = registry or CollectorRegistry()
        self.metrics = Metrics(self.registry)
        listen = Limits(**{**config.limits.__dict__, "idle_timeout": config.listen_idle_timeout})
        self.hosts = {"ws/stt": Host(config.limits, self._open), "v1/listen": Host(listen, self._open_listen)}
        self.draining = False
        self.sockets = 0  # open WebSockets, both wires: at most limits.max_connections
        self.loading = warm(config.engines) if config.preload else {}
        for name, future in self.loading.items():
            future.add_done_callback(lambda f, name=name: f.exception() and log.warning(
                "preloading the %s engine failed: %s (its clients will get the error)", name, f.exception()))

    def loaded(self) -> dict[str, str]:
        """Each preloaded engine: loaded, loading or failed (why is logged, not shown: it may name paths)."""
        return {name: "loading" if not f.done() else "failed" if f.exception() else "loaded"
                for name, f in self.loading.items()}

    def _open(self, start: Start) -> Session:
        return offered_session(start, self.config.engines, self.config.models)  # names, never paths

    @staticmethod
    def _open_listen(start: Start) -> Session:
        return Session(start.config.language, engine=start.engine, config=start.config)

    @contextlib.contextmanager
    def holding(self):
        self.sockets += 1
        try:
            yield
        finally:
            self.sockets -= 1

    async def drain(self) -> None:
        """SIGTERM: refuse new connections; every stream finalizes what it received, then 1001."""
        self.draining = True  # /health says so, and new connections are refused
        await asyncio.gather(*(host.drain(self.config.drain_timeout) for host in self.hosts.values()))

    # -- who may connect --
    def token_ok(self, conn: HTTPConnection) -> bool:
        token = self.config.token
        if token is None:
            return True
        given = header_token(conn.headers)
        return secret_matches(given if given is not None else conn.query_params.get("token"), token)

    def origin_ok(self, conn: HTTPConnection) -> bool:
        """A browser's WebSocket from another site is refused (its page could use the person's
        token); clients that are not browsers send no Origin."""
        origin = conn.headers.get("origin")
        if origin is None:
            return True
        return urlsplit(origin).netloc == conn.headers.get("host") or origin in self.config.allowed_origins


def create_app(config: ServiceConfig, registry: CollectorRegistry | None = None) -> Starlette:
    service = Service(config, registry)

    def refuse_unless_token(request: Request) -> Response | None:
        if service.token_ok(request):
            return None
        return JSONResponse({"error": "AUTH_ERROR", "message": "A token is needed: send 'Authorization: token …' "
                             "or ?token=…"}, status_code=401, headers={"WWW-Authenticate": "Token"})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "draining" if service.draining else "ok"},
                            status_code=503 if service.draining else 200)

    async def info(request: Request) -> Response:
        if (refused := refuse_unless_token(request)) is not None:
            return refused
        return JSONResponse(info_document(
            config.engines, {**config.limits.__dict__, "max_frame_bytes": config.max_frame_bytes},
            {wire: {"active": len(h.sessions), "connections": len(h.runners)} for wire, h in service.hosts.items()},
            {"ws/stt": {"encoding": "linear16", "sample_rate": 16000, "channels": 1},
             "v1/listen": {"encodings": list(ENCODINGS), "containers": list(CONTAINERS)}},
            preloaded=service.loaded()))

    async def metrics(request: Request) -> Response:
        if (refused := refuse_unless_token(request)) is not None:
            return refused
        return Response(generate_latest(service.registry), media_type=CONTENT_TYPE_LATEST)

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    def listen_denial(status: int, code: str, message: str, request_id: str) -> JSONResponse:
        """A refused /v1/listen handshake as Deepgram writes it: the body and its ``dg-error`` copy."""
        body = refusal(code, message, request_id)
        return JSONResponse(body, status_code=status, headers={"dg-request-id": request_id, "dg-error": json.dumps(body)})

    async def refuse_socket(websocket: WebSocket, allowed: bool, request_id: str | None = None) -> bool:
        """Refuse before accepting (the client sees HTTP): draining or over the cap → 503, a foreign
        page or a wrong token → 403 (/ws/stt) or Deepgram's 401 (/v1/listen). The caller already
        holds its place in ``service.sockets``, so handshakes arriving together cannot pass the cap together."""
        if service.draining or service.sockets > config.limits.max_connections:
            message = "The server is shutting down." if service.draining else (
                f"The server already holds {config.limits.max_connections} connections; try again later.")
            denial = (listen_denial(503, "TOO_MANY_REQUESTS", message, request_id) if request_id else
                      JSONResponse({"error": ErrorCode.TOO_MANY_SESSIONS, "message": message}, status_code=503))
            denial.headers["Retry-After"] = "5"
            await websocket.send_denial_response(denial)
            return True
        if allowed and service.origin_ok(websocket):
            return False
        if request_id:
            await websocket.send_denial_response(listen_denial(401, "INVALID_AUTH", "Invalid credentials.", request_id))
        else:
            await websocket.close(1008)  # before accepting: the client sees HTTP 403
        return True

    async def stt_socket(websocket: WebSocket) -> None:
        with service.holding():
            if await refuse_socket(websocket, service.token_ok(websocket)):
                return
            await websocket.accept()
            watch = service.metrics.watch("ws/stt")
            watch.json_logs = config.json_logs
            await _serve(websocket, Link(service.hosts["ws/stt"], stt_ws.RelayCodec(config.max_frame_bytes),
                                         _sender(websocket), websocket.close, watch=watch))

    async def listen_socket(websocket: WebSocket) -> None:
        with service.holding():
            await _listen(websocket)

    async def _listen(websocket: WebSocket) -> None:
        request_id = str(uuid.uuid4())
        ok, subprotocol = authorized(websocket.headers, config.token, websocket.query_params.get("token"))
        if await refuse_socket(websocket, ok, request_id):
            return
        try:
            stream, engine = stream_for(list(websocket.query_params.multi_items()), "auto", config.allow_cloud)
        except STTError as e:
            await websocket.send_denial_response(listen_denial(400, "Bad Request", str(e), request_id))
            return
        await websocket.accept(subprotocol=subprotocol, headers=[(b"dg-request-id", request_id.encode())])
        watch = service.metrics.watch("v1/listen", lambda: engine)
        watch.json_logs = config.json_logs
        link = Link(service.hosts["v1/listen"], ListenCodec(stream, request_id, config.max_frame_bytes),
                    _sender(websocket), websocket.close, watch=watch, one_session=True)
        link.command(Start(engine, None, stream.with_options(sample_rate=16000)))
        await _serve(websocket, link)

    routes = [
        Route("/", page), Route("/health", health), Route("/info", info), Route("/metrics", metrics),
        WebSocketRoute("/ws/stt", stt_socket), WebSocketRoute("/v1/listen", listen_socket),
        Mount("/static/widget", StaticFiles(directory=WIDGET_STATIC)),
        Mount("/static", StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=routes)
    app.state.service = service
    return OwnHostOnly(app, config)


class OwnHostOnly:
    """ASGI middleware: a loopback server answers only requests that name it (DNS rebinding);
    ``/health`` stays open to any prober."""

    def __init__(self, app: Starlette, config: ServiceConfig):
        self.app, self.config = app, config
        self.state = app.state

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope["path"] != "/health":
            host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
            if not host_allowed(host, self.config.host, self.config.allowed_origins):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})  # before accepting: HTTP 403
                else:
                    await JSONResponse({"error": ErrorCode.AUTH_ERROR, "message": "This server answers to its own "
                                        "address only (Host not allowed)."}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _sender(websocket: WebSocket) -> Callable[[Any], Any]:
    return lambda frame: websocket.send_text(json.dumps(frame, ensure_ascii=False))


async def _serve(websocket: WebSocket, link: Link) -> None:
    """Starlette reads: its frames go to the link until the connection closes or the client goes."""
    async def frames() -> Any:
        with contextlib.suppress(WebSocketDisconnect):
            while (message := await websocket.receive())["type"] != "websocket.disconnect":
                yield message.get("bytes") if message.get("bytes") is not None else message.get("text")

    await link.serve(frames())
