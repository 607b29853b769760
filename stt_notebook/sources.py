"""Where audio comes from, as PCM16 16 kHz mono frames: a file, an array, bytes or an iterator of
frames (:func:`source_frames`), or a microphone on the kernel's own machine (PortAudio via
sounddevice, :func:`microphone_frames`: devices run at their own rate and are resampled here)."""

from __future__ import annotations

import asyncio
import os
from typing import Any, AsyncIterable, AsyncIterator, Iterable, Union

import numpy as np

from . import audio
from .audio import StreamResampler
from .config import SAMPLE_RATE
from .errors import DeviceError, STTError

Source = Union[str, os.PathLike, np.ndarray, bytes, AsyncIterable[bytes], Iterable[bytes]]

NO_DEVICE_HINT = ("Record in the browser instead (source='browser'), or pass an audio file as the source; "
                  "`stt-notebook doctor` lists the devices this machine has.")


def input_device(device: int | str | None = None) -> dict[str, Any]:
    """The PortAudio input device to record from, or a :class:`DeviceError` saying why there is none."""
    try:
        import sounddevice as sd
    except OSError as e:
        raise DeviceError(f"No audio system on the kernel's machine: PortAudio is missing ({e}).",
                          hint="On Debian/Ubuntu: apt-get install libportaudio2. " + NO_DEVICE_HINT) from None
    try:
        return dict(sd.query_devices(device, "input"))
    except Exception as e:  # ValueError for no such device, PortAudioError for no default
        name = "" if device is None else f" {device!r}"
        raise DeviceError(f"No microphone{name} on the kernel's machine ({e}).", hint=NO_DEVICE_HINT) from None


async def microphone_frames(device: int | str | None = None, frame_ms: int = 100,
                            until: asyncio.Event | None = None) -> AsyncIterator[bytes]:
    """Frames from a local microphone until ``until`` is set; then the device closes and the audio
    it had already captured is still yielded (stop never drops what was heard)."""
    import sounddevice as sd

    info = input_device(device)
    rate = int(info["default_samplerate"])
    loop = asyncio.get_running_loop()
    blocks: asyncio.Queue[bytes] = asyncio.Queue()
    resample = StreamResampler(rate)
    until = until or asyncio.Event()

    def on_block(indata: Any, _frames: int, _time: Any, _status: Any) -> None:  # PortAudio's thread
        loop.call_soon_threadsafe(blocks.put_nowait, bytes(indata))

    try:
        stream = sd.RawInputStream(samplerate=rate, channels=1, dtype="int16", device=info["index"],
                                   blocksize=rate * frame_ms // 1000, callback=on_block)
    except Exception as e:
        raise DeviceError(f"Could not open the microphone {info['name']!r}: {e}", hint=NO_DEVICE_HINT) from None
    with stream:
        while not until.is_set():
            try:
                block = await asyncio.wait_for(blocks.get(), 0.05)
            except asyncio.TimeoutError:
                continue
            if out := resample(block):
                yield out
    await asyncio.sleep(0)  # blocks the device handed over while closing
    while not blocks.empty():
        if out := resample(blocks.get_nowait()):
            yield out
    if out := resample(b"", last=True):
        yield out


async def source_frames(source: Source, frame_ms: int = 100, sample_rate: int = SAMPLE_RATE, *,
                        realtime: bool = False) -> AsyncIterator[bytes]:
    """Any supported source as PCM16 16 kHz mono frames; ``realtime`` releases each frame when its
    audio would have been spoken, like a live microphone."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0.0
    async for frame in _frames(source, frame_ms, sample_rate):
        if realtime and (delay := audio.pace_delay(sent, loop.time() - started)) > 0:
            await asyncio.sleep(delay)
        yield frame
        sent += audio.duration(frame)


async def _frames(source: Source, frame_ms: int, sample_rate: int) -> AsyncIterator[bytes]:
    """Any supported source as PCM16 16 kHz mono frames."""
    if isinstance(source, (str, os.PathLike)):
        pcm = await asyncio.to_thread(audio.load_pcm16, source)
    elif isinstance(source, np.ndarray):
        pcm = audio.array_to_pcm16(source, sample_rate)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        pcm = bytes(source)
    elif hasattr(source, "__aiter__"):
        async for frame in source:  # type: ignore[union-attr]
            yield bytes(frame)
        return
    elif hasattr(source, "__iter__"):
        for frame in source:  # type: ignore[union-attr]
            yield bytes(frame)
        return
    else:
        raise STTError(f"Cannot read audio from {type(source).__name__}.",
                       hint="Pass a file path, a numpy array, PCM16 bytes or an iterator of PCM16 frames.")
    for frame in audio.frames(pcm, frame_ms):
        yield frame
