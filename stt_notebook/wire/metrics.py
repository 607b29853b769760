"""What the wires did, as Prometheus metrics and (optionally) one JSON log line per session.

Every host's Link reports each connection to a :class:`Watch`: commands going in and outcomes
going out pass through it, so the figures mean the same on every wire. The standalone service
keeps its own registry (``GET /metrics``); the Jupyter extension registers into Jupyter's own.
"""

from __future__ import annotations

import bisect
import json
import logging
import time
import uuid
from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..events import Error, Final, Interim
from .vocabulary import Audio
from .vocabulary import Outcome, Stopped

sessions_log = logging.getLogger("stt_notebook.sessions")
LATENCY_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class Metrics:
    """The metric families, registered once per registry."""

    def __init__(self, registry: CollectorRegistry | None = None):
        kw: dict[str, Any] = {} if registry is None else {"registry": registry}
        self.connections = Gauge("websocket_connections_active", "Open WebSocket connections.", ["wire"], **kw)
        self.sessions = Gauge("stt_sessions_active", "Transcription sessions running.", ["wire"], **kw)
        self.audio = Counter("stt_audio_seconds", "Seconds of audio received.", ["wire"], **kw)
        self.frames = Counter("stt_frames", "Audio frames received.", ["wire"], **kw)
        self.errors = Counter("stt_errors", "Errors told to clients, by code.", ["wire", "code"], **kw)
        self.latency = Histogram("stt_latency_seconds", "A word's end in the audio → when its result was first sent.",
                                 ["wire"], buckets=LATENCY_BUCKETS, **kw)
        self.first_result = Histogram("stt_first_result_seconds", "A session's first audio → its first result.",
                                      ["wire"], buckets=LATENCY_BUCKETS, **kw)

    def watch(self, wire: str, engine: Callable[[], str] = lambda: "") -> "Watch":
        return Watch(self, wire, engine)


class Watch:
    """One connection's figures. ``received(command)`` before the connection takes it,
    ``told(outcome)`` as it is told, ``closed(code)`` at the end."""

    def __init__(self, metrics: Metrics, wire: str, engine: Callable[[], str]):
        self.metrics, self.wire, self.engine = metrics, wire, engine
        self.json_logs = False
        self._ended: dict[str, Any] | None = None  # a stopped session's line, waiting for the close code
        metrics.connections.labels(wire).inc()
        self._reset()

    def _reset(self) -> None:
        self.id = uuid.uuid4().hex[:12]
        self._positions: list[float] = []  # seconds of audio received, after each frame
        self._arrivals: list[float] = []  # when each of those frames arrived
        self._reported = 0.0  # audio position up to which results were already sent
        self._first = True
        self._finals = 0
        self._latencies: list[float] = []
        self._running = False

    def received(self, command: Any) -> None:
        if isinstance(command, Audio) and command.pcm:
            seconds = len(command.pcm) / 32000
            if not self._running:
                self._running = True
                self._flush(None)
                self.metrics.sessions.labels(self.wire).inc()
            self.metrics.frames.labels(self.wire).inc()
            self.metrics.audio.labels(self.wire).inc(seconds)
            self._positions.append((self._positions[-1] if self._positions else 0.0) + seconds)
            self._arrivals.append(time.monotonic())

    def told(self, outcome: Outcome) -> None:
        now = time.monotonic()
        if isinstance(outcome, Error):
            self.metrics.errors.labels(self.wire, outcome.code).inc()
        elif isinstance(outcome, (Interim, Final)) and self._arrivals:
            if self._first:
                self._first = False
                self.metrics.first_result.labels(self.wire).observe(now - self._arrivals[0])
            self._finals += isinstance(outcome, Final)
            for word in outcome.words:  # each word once: when it was first sent
                if word.end > self._reported:
                    self._reported = word.end
                    i = min(bisect.bisect_left(self._positions, word.end), len(self._arrivals) - 1)
                    latency = max(0.0, now - self._arrivals[i])
                    del self._positions[:i], self._arrivals[:i]  # reported audio is not kept: bounded memory
                    self._latencies.append(latency)
                    self.metrics.latency.labels(self.wire).observe(latency)
        elif isinstance(outcome, Stopped):
            self._end(outcome.transcript.engine if outcome.transcript is not None else None)

    def closed(self, code: int | None) -> None:
        self._end(None)
        self._flush(code)
        self.metrics.connections.labels(self.wire).dec()

    def _end(self, engine: str | None) -> None:
        """A session ended: its figures wait for the close code (if the connection closes next)."""
        if self._running:
            self.metrics.sessions.labels(self.wire).dec()
            latencies = sorted(self._latencies)

            def pct(q: float) -> float | None:
                return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 3) if latencies else None

            self._ended = {"event": "session", "id": self.id, "wire": self.wire, "engine": engine or self.engine(),
                           "audio_seconds": round(self._positions[-1], 3), "finals": self._finals,
                           "latency_p50": pct(0.5), "latency_p95": pct(0.95)}
        self._reset()

    def _flush(self, close: int | None) -> None:
        if self._ended is not None and self.json_logs:
            sessions_log.info(json.dumps({**self._ended, "close_code": close}))
        self._ended = None
