"""The Jupyter server extension: the ``/ws/stt`` relay (:mod:`.relay`, its handlers in
:mod:`.handlers`), the kernel WebSocket tuning for live widgets (:mod:`.kernel_connection`), and
the drain on shutdown.
"""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from .handlers import HealthHandler, InfoHandler, STTSocketHandler
from .kernel_connection import kernel_connection
from .relay import STTRelay


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
