"""``echo``: a diagnostic engine that recognizes nothing.

Each chunk of audio it receives comes straight back as a Final whose text names the chunk's span
and byte count. It costs nothing, so it measures what the transport around an engine adds
(``benchmarks/relay.py``) and lets a client test its connection without loading a model.
"""

from __future__ import annotations

from ..config import StreamConfig
from ..events import Event, Final, Word
from .base import BYTES_PER_SECOND, Capabilities, Engine, ThreadedStream


class EchoEngine(Engine):
    name = "echo"
    capabilities = Capabilities(frozenset({"endpointing"}), hears_words=False)  # byte counts, not words

    def __init__(self, model: str | None = None):
        pass

    def supports(self, language: str) -> bool:
        return True

    def stream(self, config: StreamConfig) -> "EchoStream":
        return EchoStream(config)


class EchoStream(ThreadedStream):
    coalesce_seconds = 0.0  # one Final per chunk sent, never merged

    def _accept(self, pcm: bytes) -> list[Event]:
        start = self.stream_time
        end = round(start + len(pcm) / BYTES_PER_SECOND, 3)
        text = f"{len(pcm)} bytes"
        return [Final(text, 1.0, round(start, 3), end, (Word(text, round(start, 3), end, 1.0),), speech_final=True)]

    def _flush(self, final: bool) -> list[Event]:
        return []
