"""Jupyter as a host: the server extension (relay, handlers, shutdown) and the kernel WebSocket tuning."""
