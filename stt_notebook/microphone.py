"""A microphone on the kernel's own machine (PortAudio via sounddevice) as PCM16 16 kHz frames.

Devices run at their own rate; frames are resampled here so the Session sees the one format.
"""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from .audio import StreamResampler
from .errors import DeviceError

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
