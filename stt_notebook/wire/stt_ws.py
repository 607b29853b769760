"""The ``/ws/stt`` wire's outbound side: the driver's outcomes as the seed protocol's frames.
(Its inbound side, frames → commands, is :mod:`stt_notebook.protocol`.)"""

from __future__ import annotations

from typing import Any

from ..errors import ErrorCode
from ..events import Error, to_wire
from ..protocol import summary_frame
from .driver import Closing, Outcome, Stopped

CLOSE = {"idle": (1000, "idle timeout"), "drain": (1001, "server shutting down"), "stopped": (1000, "")}


def render(outcome: Outcome) -> list[dict[str, Any]]:
    """The frames that tell the client ``outcome`` (a Closing's close code is in ``CLOSE``)."""
    if isinstance(outcome, Stopped):
        t = outcome.transcript
        return [summary_frame(len(t), len(t.words), outcome.audio_seconds, t.text)]
    if isinstance(outcome, Closing):
        if outcome.why == "idle":
            return [to_wire(Error(ErrorCode.IDLE_TIMEOUT, outcome.message))]
        return []
    return [to_wire(outcome)]
