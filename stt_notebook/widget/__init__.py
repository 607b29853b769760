"""The notebook widget: ``LiveTranscriber`` (:mod:`.live`, a host of the one connection adapter), its comm
wire (:mod:`.messages`), the static picture saved with the notebook (:mod:`.html`) and the page's
code (``static/live.js``, ``live.css``)."""

from .live import LiveTranscriber

__all__ = ["LiveTranscriber"]
