"""The documented import path of the relay client (:mod:`stt_notebook.wire.client`)."""

from .wire.client import RelayClient, relay_url

__all__ = ["RelayClient", "relay_url"]
