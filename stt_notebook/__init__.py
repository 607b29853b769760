"""stt-notebook: live speech-to-text inside Jupyter — Korean first, offline by default.

    from stt_notebook import transcribe
    t = transcribe("interview.flac", language="ko")
    t.utterances, t.words, t.plot_confidence(), t.to_srt()
"""

import os as _os
from typing import Any

# CTranslate2's OpenMP threads spin ~300k turns waiting for each other before they sleep; when other
# work holds the cores, that spinning starves the very thread being waited for, and a Korean final
# came 23-40 s after an 8 s clip instead of 9-12 s (benchmarks/busy.py). 10k turns cost nothing idle.
# Read once, when CTranslate2 loads (after this); a value the user set is kept.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")

from ._version import __version__  # noqa: E402
from .api import transcribe  # noqa: E402
from .batch import BatchResult, transcribe_many  # noqa: E402
from .config import StreamConfig  # noqa: E402
from .errors import (AudioError, AudioFileNotFoundError, ConfigError, EmptyAudioError, EngineError,
                     EngineUnavailableError, ErrorCode, ModelNotFoundError, STTError, UnknownEngineError,
                     UnsupportedLanguageError)  # noqa: E402
from .events import Error, Final, Interim, SpeechStarted, UtteranceEnd, Word  # noqa: E402
from .session import Session  # noqa: E402
from .transcript import Transcript  # noqa: E402

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
