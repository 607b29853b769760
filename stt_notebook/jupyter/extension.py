"""The Jupyter server extension: the ``/ws/stt`` relay (:mod:`.handlers`) with its limits as
traitlets (``c.STTRelay.max_sessions = 8`` in a Jupyter config), the kernel WebSocket tuning for
live widgets (:mod:`.kernel_connection`), and the drain on shutdown.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Dict, Float, Int, List, Unicode
from traitlets.config import LoggingConfigurable

from ..session import Session
from ..wire.commands import Start
from ..wire.driver import Host, Limits, offered_session
from .handlers import HealthHandler, InfoHandler, STTSocketHandler
from .kernel_connection import kernel_connection


class STTRelay(LoggingConfigurable):
    """Limits of the ``/ws/stt`` relay, and the sessions it runs."""

    max_frame_bytes = Int(1 << 20, config=True, help="Largest accepted frame, text or binary (bytes).")
    max_sessions = Int(32, config=True, help="Concurrent transcription sessions across all connections.")
    max_realtime_factor = Float(10.0, config=True,
                                help="Audio is taken at most this many times faster than real time; faster "
                                     "senders wait (backpressure) until max_queued_frames, then get RATE_LIMITED.")
    burst_seconds = Float(10.0, config=True, help="Audio a client may send ahead of the real-time allowance.")
    max_queued_frames = Int(500, config=True, help="Frames waiting per connection before RATE_LIMITED.")
    idle_timeout = Float(60.0, config=True, help="Close a connection silent for this many seconds (0: never).")
    max_connections = Int(64, config=True, help="Open /ws/stt connections; more are refused (HTTP 503).")
    drain_timeout = Float(10.0, config=True,
                          help="On shutdown (SIGTERM), seconds to finish what clients already sent: their finals "
                               "go out, then each connection closes 1001.")
    engines = List(Unicode(), ["vosk", "whisper", "echo"], config=True,
                   help="Engines clients may choose. Add 'deepgram' to let clients spend this server's "
                        "DEEPGRAM_API_KEY ('auto' picks it only then).")
    models = Dict(Unicode(), Unicode(), config=True,
                  help="Extra models clients may choose, by name: {'ko-big': '/srv/models/vosk-ko-big'}. "
                       "Packaged models are offered by their names (ko, tiny.en); a client never sends a path.")
    kernel_nodelay = Bool(True, config=True,
                          help="Turn off Nagle's algorithm on kernel WebSockets, so widget updates reach the "
                               "browser without its ~40 ms delay. False leaves jupyter_server's default.")
    quiet_audio_status = Bool(True, config=True,
                              help="Hold back the kernel's 'busy' status for each live audio frame (its 'idle' "
                                   "still goes), so JupyterLab does not redraw its kernel indicators 20 times "
                                   "a second while recording. False forwards every status.")

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.host = Host(Limits(self.max_sessions, self.max_realtime_factor, self.burst_seconds,
                                self.max_queued_frames, self.idle_timeout), self.open_session)
        self.connections: set[STTSocketHandler] = set()

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


class STTExtension(ExtensionApp):
    """The server extension as a Jupyter ExtensionApp: the server calls ``stop_extension`` on
    shutdown (SIGTERM included), after it stopped accepting connections, so streams drain."""

    name = "stt_notebook"
    load_other_extensions = True

    def initialize_settings(self) -> None:
        relay = STTRelay(parent=self.serverapp)  # configured as c.STTRelay.…, as before
        settings = self.settings  # copied from the web app before, and written back over it after, this call
        settings["stt_relay"] = self.relay = relay
        settings["kernel_websocket_connection_class"] = kernel_connection(
            settings["kernel_websocket_connection_class"], nodelay=relay.kernel_nodelay,
            quiet_status=relay.quiet_audio_status)

    def initialize_handlers(self) -> None:
        self.handlers.extend([("stt/health", HealthHandler), ("stt/info", InfoHandler), ("ws/stt", STTSocketHandler)])
        self.serverapp.log.info("stt-notebook: /ws/stt relay ready")

    async def stop_extension(self) -> None:
        await self.relay.drain()
