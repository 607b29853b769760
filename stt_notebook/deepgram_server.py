"""Kept for the import path notebooks used: ``LocalDeepgram`` lives in :mod:`stt_notebook.deepgram.local`."""

from .deepgram.local import LocalDeepgram

__all__ = ["LocalDeepgram"]
