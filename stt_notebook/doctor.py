"""What is usable on this machine, and why not: engines, models, decoders, audio devices."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
from typing import Iterator

Check = tuple[str, str, bool, str]


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def checks() -> Iterator[Check]:
    """Everything ``stt-notebook doctor`` shows: engines, decoders, audio devices."""
    yield from engine_checks()

    yield "decoder", "soundfile", bool(_version("soundfile")), _describe_soundfile()
    yield "decoder", "PyAV (ffmpeg)", bool(_version("av")), f"av {_version('av')}" if _version("av") else "pip install av"
    ffmpeg = shutil.which("ffmpeg")
    yield "decoder", "ffmpeg binary", bool(ffmpeg), ffmpeg or "not needed (PyAV carries its own FFmpeg)"

    yield from _devices()

    from .fonts import describe

    yield "plot", "Korean font", *describe()


def engine_checks() -> Iterator[Check]:
    """The engine rows alone: cheap (no device probing), so ``stt/info`` can ask on every request."""
    from .engines.models import VOSK_PACKAGES, WHISPER_PACKAGES

    yield from _engine_checks("vosk", "vosk", VOSK_PACKAGES)
    yield from _engine_checks("whisper", "faster-whisper", WHISPER_PACKAGES)
    from .engines.deepgram import read_key

    key = bool(read_key())
    url = os.environ.get("DEEPGRAM_URL", "wss://api.deepgram.com")
    yield ("engine", "deepgram", key,
           f"key set, endpoint {url}" if key else "no DEEPGRAM_API_KEY (env or .env): the cloud engine is off")


def _engine_checks(engine: str, dist: str, packages: dict) -> Iterator[Check]:
    """One row per packaged model: usable, or the pip command that makes it so."""
    version = _version(dist)
    for name, package in packages.items():
        path = package.path()
        if version and path:
            origin = f"; {package.origin}" if getattr(package, "origin", None) else ""
            yield "engine", f"{engine} ({name})", True, f"{dist} {version}, model {path}{origin}"
        else:
            missing = " ".join(p for p, ok in ((dist, version), (package.distribution, path)) if not ok)
            yield "engine", f"{engine} ({name})", False, f"missing: pip install {missing}"


def _describe_soundfile() -> str:
    try:
        import soundfile

        return f"libsndfile {soundfile.__libsndfile_version__}"
    except (ImportError, OSError) as e:
        return f"unusable: {e}"


def _devices() -> Iterator[Check]:
    try:
        import sounddevice as sd
    except ImportError:
        yield "audio", "microphone", False, "pip install sounddevice (for source='sounddevice')"
        return
    except OSError as e:
        yield "audio", "microphone", False, f"PortAudio missing ({e}); on Debian: apt-get install libportaudio2"
        return
    try:
        inputs = [d for d in sd.query_devices() if d["max_input_channels"] > 0]
    except Exception as e:  # PortAudio errors are not one class
        yield "audio", "microphone", False, f"PortAudio error: {e}"
        return
    if not inputs:
        yield "audio", "microphone", False, "no input device on this machine (the browser microphone still works)"
    for d in inputs:
        yield "audio", "microphone", True, f"{d['name']} ({int(d['default_samplerate'])} Hz)"
