"""stt-notebook: live speech-to-text inside Jupyter — Korean first, offline by default.

    from stt_notebook import transcribe
    t = transcribe("interview.flac", language="ko")
    t.utterances, t.words, t.plot_confidence(), t.to_srt()
"""

from typing import Any

from . import _openmp  # noqa: F401  (first: before anything loads CTranslate2)
from ._version import __version__
from .api import transcribe
from .batch import BatchResult, transcribe_many
from .config import StreamConfig
from .errors import (AudioError, AudioFileNotFoundError, ConfigError, EmptyAudioError, EngineError,
                     EngineUnavailableError, ErrorCode, ModelNotFoundError, STTError, UnknownEngineError,
                     UnsupportedLanguageError)
from .events import Error, Final, Interim, SpeechStarted, UtteranceEnd, Word
from .session import Session
from .transcript import Transcript

__all__ = [
    "__version__", "transcribe", "transcribe_many", "BatchResult", "LiveTranscriber", "Session", "Transcript", "StreamConfig",
    "Word", "Interim", "Final", "SpeechStarted", "UtteranceEnd", "Error",
    "STTError", "ErrorCode", "AudioError", "AudioFileNotFoundError", "EmptyAudioError", "ConfigError",
    "EngineError", "EngineUnavailableError", "ModelNotFoundError", "UnknownEngineError",
    "UnsupportedLanguageError",
]


def __getattr__(name: str):  # the widget pulls in ipywidgets: import it only when asked for
    if name == "LiveTranscriber":
        from .widget import LiveTranscriber

        return LiveTranscriber
    raise AttributeError(f"module 'stt_notebook' has no attribute {name!r}")


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .jupyter.extension import STTExtension

    return [{"module": "stt_notebook.jupyter.extension", "app": STTExtension}]
