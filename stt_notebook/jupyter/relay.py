"""The ``/ws/stt`` relay's operator settings as traitlets (``c.STTRelay.max_sessions = 8`` in a
Jupyter config, made from :mod:`stt_notebook.serving`), and what its connections share."""

from __future__ import annotations

from typing import Any

from traitlets import Bool, Dict, Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from ..serving import LIMIT_NAMES, SETTINGS, limits_from
from ..session import Session
from ..wire.offer import offered_session
from ..wire.runner import Host
from ..wire.vocabulary import Start


def _setting(kind: Any, name: str) -> Any:
    return kind(SETTINGS[name].default, config=True, help=SETTINGS[name].help)


class STTRelay(LoggingConfigurable):
    """Limits of the ``/ws/stt`` relay, and the sessions it runs."""

    # the operator's settings, as on `serve` (stt_notebook.serving: one default and help for each)
    engines = List(Unicode(), list(SETTINGS["engines"].default), config=True, help=SETTINGS["engines"].help)
    models = Dict(Unicode(), Unicode(), config=True, help=SETTINGS["models"].help)
    max_sessions = _setting(Int, "max_sessions")
    max_connections = _setting(Int, "max_connections")
    max_realtime_factor = _setting(Float, "max_realtime_factor")
    burst_seconds = _setting(Float, "burst_seconds")
    max_queued_frames = _setting(Int, "max_queued_frames")
    idle_timeout = _setting(Float, "idle_timeout")
    max_frame_bytes = _setting(Int, "max_frame_bytes")
    drain_timeout = _setting(Float, "drain_timeout")
    kernel_nodelay = Bool(True, config=True,
                          help="Turn off Nagle's algorithm on kernel WebSockets, so widget updates reach the "
                               "browser without its ~40 ms delay. False leaves jupyter_server's default.")
    quiet_audio_status = Bool(True, config=True,
                              help="Hold back the kernel's 'busy' status for each live audio frame (its 'idle' "
                                   "still goes), so JupyterLab does not redraw its kernel indicators 20 times "
                                   "a second while recording. False forwards every status.")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.host = Host(limits_from({name: getattr(self, name) for name in LIMIT_NAMES}), self.open_session)
        self.connections: set[Any] = set()  # its open socket handlers

    @property
    def sessions(self) -> set[Session]:
        return self.host.sessions

    async def drain(self) -> None:
        """Shutdown: every connection takes the frames it already received, sends their finals and
        closes 1001; at most ``drain_timeout`` seconds."""
        connections = list(self.connections)
        await self.host.drain(self.drain_timeout)
        for connection in connections:  # past the bound: close anyway
            connection.close(1001, "server shutting down")

    def open_session(self, start: Start) -> Session:
        return offered_session(start, self.engines, self.models)

    def limits(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.trait_names(config=True) if name != "models"}
