"""Exceptions with stable error codes.

Every failure a user can meet carries a ``code`` that is the same string in a Python
exception, an ``Error`` event, a ``/ws/stt`` error frame and the CLI's exit line, plus a
``hint`` that says what to do next.
"""

from __future__ import annotations


class ErrorCode:
    """The stable codes. Strings, so they travel unchanged over JSON."""

    INVALID_JSON = "INVALID_JSON"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    INVALID_CONFIG = "INVALID_CONFIG"
    AUDIO_FORMAT_ERROR = "AUDIO_FORMAT_ERROR"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    EMPTY_AUDIO = "EMPTY_AUDIO"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    RATE_LIMITED = "RATE_LIMITED"
    IDLE_TIMEOUT = "IDLE_TIMEOUT"
    SHUTTING_DOWN = "SHUTTING_DOWN"
    TOO_MANY_SESSIONS = "TOO_MANY_SESSIONS"
    UNKNOWN_ENGINE = "UNKNOWN_ENGINE"
    UNSUPPORTED_LANGUAGE = "UNSUPPORTED_LANGUAGE"
    MODEL_NOT_FOUND = "MODEL_NOT_FOUND"
    ENGINE_UNAVAILABLE = "ENGINE_UNAVAILABLE"
    ENGINE_ERROR = "ENGINE_ERROR"
    UPSTREAM_ERROR = "UPSTREAM_ERROR"
    API_LIMIT_EXCEEDED = "API_LIMIT_EXCEEDED"
    AUTH_ERROR = "AUTH_ERROR"
    DEVICE_ERROR = "DEVICE_ERROR"


def shown(value: object) -> str:
    """A client's value in an error message: short, so an error never echoes a megabyte back."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


class STTError(Exception):
    """Base class: ``code`` for machines, ``message`` and ``hint`` for people."""

    code: str = ErrorCode.ENGINE_ERROR

    def __init__(self, message: str, *, hint: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class ConfigError(STTError, ValueError):
    code = ErrorCode.INVALID_CONFIG


class AudioError(STTError, ValueError):
    """The audio could not be read or has the wrong format."""

    code = ErrorCode.AUDIO_FORMAT_ERROR


class AudioFileNotFoundError(AudioError, FileNotFoundError):
    code = ErrorCode.FILE_NOT_FOUND


class EmptyAudioError(AudioError):
    code = ErrorCode.EMPTY_AUDIO


class UnknownEngineError(STTError, ValueError):
    code = ErrorCode.UNKNOWN_ENGINE


class UnsupportedLanguageError(STTError, ValueError):
    code = ErrorCode.UNSUPPORTED_LANGUAGE


class ModelNotFoundError(STTError):
    code = ErrorCode.MODEL_NOT_FOUND


class EngineUnavailableError(STTError):
    """The engine's Python package is not installed, or its service cannot be reached."""

    code = ErrorCode.ENGINE_UNAVAILABLE


class EngineError(STTError):
    """The engine failed while decoding."""

    code = ErrorCode.ENGINE_ERROR


class DeviceError(STTError):
    code = ErrorCode.DEVICE_ERROR
