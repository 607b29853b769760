"""Running the service under uvicorn: N worker processes on one port, each loading its models
once, and a SIGTERM that drains (every stream's finals go out, then 1001) before uvicorn exits."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import signal
from typing import Any

from urllib.parse import unquote_plus

import uvicorn

from ..wire.connection import Limits
from .app import ServiceConfig, create_app
from .transport import GuardedHTTP, GuardedWebSocket

log = logging.getLogger("stt_notebook.service")

QUERY_PAIR = re.compile(r"([?&])([^=&\s\"']*)=([^&\s\"']*)")
ENV = "STT_NOTEBOOK_SERVICE"  # the operator's config, handed to worker processes
LOOPBACK = ("127.0.0.1", "localhost", "::1")
# uvicorn kills a worker that leaves its health check unanswered for 5 s, and so every session on
# it; a worker is that silent whenever a C extension holds the GIL on a busy machine (kiwipiepy's
# load took 14 s on two cores under load). Only a worker silent this long is taken for hung.
WORKER_SILENCE = 60


def config_to_env(config: ServiceConfig) -> str:
    return json.dumps(dataclasses.asdict(config))


def config_from_env(text: str) -> ServiceConfig:
    fields = json.loads(text)
    fields["limits"] = Limits(**fields["limits"])
    fields["engines"], fields["allowed_origins"] = tuple(fields["engines"]), tuple(fields["allowed_origins"])
    return ServiceConfig(**fields)


def app_from_env():
    """uvicorn's app factory (``factory=True``), in each worker process."""
    config = config_from_env(os.environ[ENV])
    GuardedHTTP.max_open = open_connections(config)
    app = create_app(config)
    _drain_on_signals(app.state.service)
    return app


def _drain_on_signals(service: Any) -> None:
    """uvicorn has installed its SIGTERM/SIGINT handlers when it makes the app (in each worker's
    main thread): put the drain in front of them. The first signal stops new connections and lets
    every stream finish what it received (finals, then 1001; at most ``drain_timeout``); then
    uvicorn's own handler shuts down. The drain runs once per process whatever signals arrive: a
    signal to the whole process group reaches a worker twice (from the terminal or systemd, and
    from the supervisor passing it on)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        uvicorn_handler = signal.getsignal(sig)
        if not callable(uvicorn_handler):
            continue

        def handler(number: int, frame: Any, uvicorn_handler: Any = uvicorn_handler) -> None:
            if service.draining:
                log.info("already draining; signal %d noted", number)
                return
            service.draining = True
            task = asyncio.get_running_loop().create_task(service.drain())
            task.add_done_callback(lambda _: uvicorn_handler(number, frame))

        signal.signal(sig, handler)


class Redact(logging.Filter):
    """uvicorn logs each request's path and query: a token, however its name is spelled
    (``tok%65n``, ``TOKEN``), never reaches the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "=" in message:
            redacted = QUERY_PAIR.sub(_redact_pair, message)
            if redacted != message:
                record.msg, record.args = redacted, ()
        return True


def _redact_pair(m: re.Match) -> str:
    name = unquote_plus(m.group(2)).strip().lower()
    return f"{m.group(1)}{m.group(2)}=…" if name in ("token", "access_token", "key") else m.group(0)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: session lines are JSON already, others are wrapped."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if message.startswith("{"):
            return message
        return json.dumps({"level": record.levelname.lower(), "logger": record.name, "message": message},
                          ensure_ascii=False)


def log_config(json_logs: bool) -> dict[str, Any]:
    formatter = {"()": f"{__name__}.JsonFormatter"} if json_logs else {"format": "%(asctime)s %(levelname)s %(message)s"}
    return {"version": 1, "disable_existing_loggers": False, "formatters": {"main": formatter},
            "filters": {"redact": {"()": f"{__name__}.Redact"}},
            "handlers": {"main": {"class": "logging.StreamHandler", "formatter": "main", "stream": "ext://sys.stderr",
                                  "filters": ["redact"]}},
            "loggers": {"uvicorn": {"handlers": ["main"], "level": "INFO", "propagate": False},
                        "uvicorn.access": {"handlers": ["main"], "level": "WARNING", "propagate": False},
                        "stt_notebook": {"handlers": ["main"], "level": "INFO", "propagate": False}}}


def open_connections(config: ServiceConfig) -> int:
    """TCP connections a worker holds at once: its WebSockets and as many plain requests beside
    (a flood of half-open handshakes is closed at the door, never at the file-descriptor limit)."""
    return 2 * config.limits.max_connections + 64


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8001, workers: int = 1) -> None:
    """Serve until SIGTERM (drained) or Ctrl-C."""
    os.environ[ENV] = config_to_env(config)
    uv = uvicorn.Config(f"{__name__}:app_from_env", factory=True, host=host, port=port, workers=workers,
                        lifespan="off", log_config=log_config(config.json_logs), timeout_graceful_shutdown=2,
                        ws_max_size=10 << 20, http=GuardedHTTP, ws=GuardedWebSocket,
                        timeout_worker_healthcheck=WORKER_SILENCE)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(uv, sockets=[uv.bind_socket()]).run()
    else:
        uvicorn.Server(uv).run()
