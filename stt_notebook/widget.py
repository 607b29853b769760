"""``LiveTranscriber``: a notebook cell that listens and writes — interim text, final lines,
a confidence timeline — while ``w.transcript`` grows as a DataFrame-ready Transcript.

Threads: browser messages reach ``on_msg`` only when the kernel is idle, so the handler does
nothing but hand the message to a background event loop, which owns every Session. Events go
back to the browser from that loop, coalesced (:mod:`stt_notebook.widget_messages`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, AsyncIterator

import anywidget
import traitlets

from . import audio
from .config import StreamConfig
from .engines import choose_engine_name, preload
from .errors import ErrorCode, STTError
from .events import Error, Event
from .session import Session, source_frames
from .transcript import LOW_CONFIDENCE, Transcript
from .widget_html import static_view
from .widget_messages import Outbox, snapshot

STATIC = Path(__file__).parent / "static"
_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    """The kernel-wide event loop (a daemon thread) that runs every widget's sessions."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = asyncio.new_event_loop()
            threading.Thread(target=_loop.run_forever, name="stt-notebook-live", daemon=True).start()
        return _loop


async def _until_none(queue: asyncio.Queue) -> AsyncIterator[bytes]:
    while (frame := await queue.get()) is not None:
        yield frame


async def _until_set(frames: AsyncIterator[bytes], stop: asyncio.Event) -> AsyncIterator[bytes]:
    async for frame in frames:
        if stop.is_set():
            return
        yield frame


class LiveTranscriber(anywidget.AnyWidget):
    """Live transcription in a notebook cell.

    ``source``: "browser" (this page's microphone), "sounddevice" (a microphone on the kernel's
    machine; ``device`` picks one) or an audio file path (played at real time). ``options`` are
    Deepgram-named stream options (endpointing, interim_results, diarize, …). Changes to
    ``language``, ``engine`` or ``options`` apply from the next recording.

    The browser's ``echo_cancellation``, ``noise_suppression`` and ``auto_gain_control`` are off by
    default (the recognizer hears the voice as spoken); quiet speech is raised in the kernel
    (``auto_gain``), and the cell says when the input stays too quiet or clips.

    ``w.transcript`` grows while recording; ``w.stop()`` finalizes, drains and returns it.
    Recording again continues the same transcript, its times running on.
    """

    _esm = STATIC / "live.js"
    _css = STATIC / "live.css"
    _uid = traitlets.Unicode().tag(sync=True)
    language = traitlets.Unicode("ko").tag(sync=True)
    engine = traitlets.Unicode("auto").tag(sync=True)
    engine_name = traitlets.Unicode("").tag(sync=True)
    source_kind = traitlets.Unicode("browser").tag(sync=True)
    source_label = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("idle").tag(sync=True)  # loading | idle | starting | recording | stopping | error
    message = traitlets.Unicode("").tag(sync=True)
    frame_ms = traitlets.Int(100).tag(sync=True)
    low_confidence = traitlets.Float(LOW_CONFIDENCE).tag(sync=True)  # the timeline's threshold line
    input_advice = traitlets.Unicode("").tag(sync=True)  # "Your microphone is very quiet — …" while it is
    # the browser's own processing of the microphone (getUserMedia constraints): off by default, so the
    # recognizer hears the voice itself; the kernel's level stage raises quiet speech instead
    echo_cancellation = traitlets.Bool(False).tag(sync=True)
    noise_suppression = traitlets.Bool(False).tag(sync=True)
    auto_gain_control = traitlets.Bool(False).tag(sync=True)

    def __init__(self, language: str = "ko", engine: str = "auto", source: str | os.PathLike = "browser", *,
                 model: str | None = None, device: int | str | None = None, frame_ms: int = 100,
                 updates_per_second: float = 20.0, echo_cancellation: bool = False,
                 noise_suppression: bool = False, auto_gain_control: bool = False, **options: Any):
        StreamConfig.from_options(language=language, model=model, **options)  # bad options fail here
        kind = source if source in ("browser", "sounddevice") else "file"
        if kind == "file" and not Path(source).is_file():
            raise STTError(f"No audio file at {os.fspath(source)!r}.",
                           hint='Pass source="browser", source="sounddevice" or the path of an audio file.',
                           code=ErrorCode.FILE_NOT_FOUND)
        super().__init__(_uid=uuid.uuid4().hex, language=language, engine=engine, frame_ms=frame_ms,
                         echo_cancellation=echo_cancellation, noise_suppression=noise_suppression,
                         auto_gain_control=auto_gain_control,
                         engine_name=choose_engine_name(engine, language), source_kind=kind,
                         source_label=Path(source).name if kind == "file" else str(device or kind))
        self.source, self.device, self.model, self.options = source, device, model, dict(options)
        self.transcript = Transcript(language=language, engine=self.engine_name)
        self.session: Session | None = None
        self.up_latency_ms: deque[float] = deque(maxlen=10_000)  # browser send → kernel loop, per frame
        self._interval = 1.0 / updates_per_second
        self._outbox = Outbox()
        self._flush_at: float | None = None
        self._last_flush = 0.0
        self._offset = 0.0  # seconds of audio in earlier recordings
        self._frames: asyncio.Queue | None = None  # browser frames for the current recording
        self._stop_capture = asyncio.Event()  # set: kernel-side sources stop capturing
        self._run: concurrent.futures.Future | None = None
        self._displays: list[Any] = []  # IPython display handles of this widget's outputs
        self._loop = background_loop()
        self.on_msg(self._on_msg)
        self._preload()

    @traitlets.observe("language", "engine")
    def _preload(self, _change: Any = None) -> None:
        """Load the engine now, not on the first click: audio captured while it loads is kept."""
        if not hasattr(self, "_loop"):
            return  # traits set by __init__ itself: __init__ preloads once everything is in place
        try:
            future = preload(self.engine, self.language, self.model)
        except STTError:
            return  # the first recording reports it, in the words of the error
        self._loading = future
        if not future.done():
            self.status = "loading"
            future.add_done_callback(lambda f: self._loop.call_soon_threadsafe(self._loaded, f))
        elif self.status == "loading":
            self._loaded(future)  # switched back to an engine that is already loaded

    def _loaded(self, future: concurrent.futures.Future) -> None:
        if future is not self._loading or self.status != "loading" or self.recording:
            return  # another engine was chosen since, or a recording reports its own state
        self.status = "idle"
        if (error := future.exception()) is not None:  # shown now; the transcript records a recording's own errors
            code = error.code if isinstance(error, STTError) else ErrorCode.ENGINE_ERROR
            self.status, self.message = "error", f"{code}: {error}"

    def __repr__(self) -> str:
        return (f"<LiveTranscriber {self.language} {self.engine_name} from {self.source_label}, {self.status}: "
                f"{len(self.transcript.utterances)} utterances, {self.audio_seconds:.1f}s audio>")

    @traitlets.validate("language", "engine")
    def _check_engine(self, proposal: dict[str, Any]) -> str:
        values = {"language": self.language, "engine": self.engine, proposal["trait"].name: proposal["value"]}
        try:
            self.engine_name = choose_engine_name(values["engine"], values["language"])
        except STTError as e:
            raise traitlets.TraitError(f"{e}") from None
        return proposal["value"]

    # -- display: the live view, plus a static picture of it for viewers without a kernel --
    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict, dict] | None:
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is None:
            return None
        data, metadata = bundle
        status = f"{self.engine_name} · {self.language} · {self.source_label} · {self.status}"
        return {**data, "text/html": static_view(self.transcript, status, self.low_confidence)}, metadata

    def _ipython_display_(self) -> None:
        from IPython.display import display

        bundle = self._repr_mimebundle_()
        if bundle is not None:
            self._displays.append(display(bundle[0], metadata=bundle[1], raw=True, display_id=True))

    def _refresh_displays(self) -> None:
        """Bring the saved picture up to date (from a cell: Jupyter takes display updates only
        from the cell that is running, so wait() and stop() do it)."""
        if (bundle := self._repr_mimebundle_()) is not None:
            for handle in self._displays:
                if handle is not None:
                    handle.update(bundle[0], metadata=bundle[1], raw=True)

    # -- Python API --
    @property
    def audio_seconds(self) -> float:
        """Seconds of audio recorded so far, over every recording."""
        live = self.session.audio_seconds if self.recording and self.session is not None else 0.0
        return self._offset + live

    @property
    def recording(self) -> bool:
        return self._run is not None and not self._run.done()

    def start(self) -> None:
        """Start recording. A browser source asks the page to open its microphone (after the first
        click has granted permission); kernel-side sources start at once."""
        if self.source_kind == "browser":
            self.send({"type": "capture", "on": True})
        else:
            self._in_loop(self._begin)

    def stop(self, timeout: float | None = 120) -> Transcript:
        """Stop recording: what was heard is finalized and drained into ``transcript``."""
        if self.source_kind == "browser":
            self.send({"type": "capture", "on": False})
        self._in_loop(self._end)
        return self.wait(timeout)

    def wait(self, timeout: float | None = None) -> Transcript:
        """Block until the current recording ends (a file source: when the file has played)."""
        self._in_loop(lambda: None)  # page messages the kernel already handed over are taken first
        if (run := self._run) is not None:
            concurrent.futures.wait([run], timeout)
        self._refresh_displays()
        return self.transcript

    def _in_loop(self, action: Any) -> None:
        """Run ``action`` in the background loop (which owns all recording state) and wait for it."""
        done: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(action())
            except BaseException as e:
                done.set_exception(e)

        self._loop.call_soon_threadsafe(run)
        done.result()

    # -- browser → kernel: enqueue only --
    def _on_msg(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        payload = [bytes(b) for b in buffers or ()]
        self._loop.call_soon_threadsafe(self._handle, content, payload, time.time())

    def _handle(self, content: dict[str, Any], buffers: list[bytes], received: float) -> None:
        kind = content.get("type")
        if kind == "audio":
            if isinstance(sent_ms := content.get("t"), (int, float)):
                self.up_latency_ms.append(received * 1000 - sent_ms)
            self._take_audio(buffers)
        elif kind == "start":
            self._begin()
        elif kind == "stop":
            self._end()
        elif kind == "hello":
            self._tell_page(snapshot(self.transcript))
        elif kind == "error":  # the page could not capture: permission, no device, insecure context
            self._event(Error(str(content.get("code", ErrorCode.DEVICE_ERROR)), str(content.get("message", ""))))
            self.status = "error"
            self._end()
        else:
            self._event(Error(ErrorCode.INVALID_MESSAGE, f"unknown widget message type {kind!r}"))

    def _take_audio(self, buffers: list[bytes]) -> None:
        if self._frames is None:
            return  # audio after stop (frames in flight): nothing listens any more
        for pcm in buffers:
            if len(pcm) % 2:
                self._event(Error(ErrorCode.AUDIO_FORMAT_ERROR,
                                  f"audio frame of {len(pcm)} bytes is not whole 16-bit samples; skipped"))
            elif pcm:
                self._frames.put_nowait(pcm)

    # -- recordings (all in the background loop) --
    def _begin(self) -> None:
        if self.recording:
            return
        try:
            self.session = Session(self.engine, self.language, self.model, transcript=self.transcript,
                                   offset=self._offset, **self.options)  # one Transcript, times running on
            loading = not preload(self.engine, self.language, self.model).done()
        except STTError as e:
            self._fail(e)
            return
        self.status, self.message = ("loading" if loading else "starting"), ""
        self.engine_name = self.transcript.engine = self.session.engine_name
        self._frames, self._stop_capture = asyncio.Queue(), asyncio.Event()
        source = self._advised(self.session, self._source(self._frames, self._stop_capture))
        self._run = asyncio.run_coroutine_threadsafe(self._record(self.session, source), self._loop)

    def _end(self) -> None:
        self._stop_capture.set()  # a kernel-side source stops capturing, then drains
        if self._frames is not None:
            self._frames.put_nowait(None)
            self._frames = None
        if self.recording:
            self.status = "stopping"

    async def _record(self, session: Session, source: AsyncIterator[bytes]) -> None:
        offset, errors_before = self._offset, len(self.transcript.errors)
        session.subscribe(self._show)  # the session adds its events to self.transcript itself
        try:
            await session.start()
            self.status = "recording"
            await session.run(source, realtime=self.source_kind == "file", frame_ms=self.frame_ms)
            self.status = "error" if len(self.transcript.errors) > errors_before else "idle"
        except STTError as e:
            await session.abort()
            self._fail(e)
        except Exception as e:  # the widget outlives a broken recording; the transcript stays
            await session.abort()
            self._fail(STTError(f"recording failed: {e}"))
        finally:
            self._offset = offset + session.audio_seconds
            self._frames = None  # browser frames still in flight have no recording to go to
            if self.source_kind != "browser":
                self._outbox.level = -100.0  # nothing is captured any more: the meter rests
            self._flush()

    def _source(self, frames: asyncio.Queue, stop: asyncio.Event) -> Any:
        if self.source_kind == "browser":
            return _until_none(frames)  # the page sends every frame before "stop": all are taken
        if self.source_kind == "file":
            return self._metered(_until_set(source_frames(self.source, self.frame_ms), stop))
        from .microphone import microphone_frames

        return self._metered(microphone_frames(self.device, self.frame_ms, until=stop))

    async def _advised(self, session: Session, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """After each frame the session took: tell the person when their input stays too quiet or clips."""
        self.input_advice = ""
        async for frame in frames:
            yield frame
            if (advice := session.input_level.advice) != self.input_advice:
                self.input_advice = advice

    async def _metered(self, frames: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """Kernel-side sources drive the page's level meter (the browser meters its own microphone)."""
        async for frame in frames:
            self._outbox.level = max(audio.level_dbfs(frame), -100.0)  # JSON has no -inf
            self._schedule_flush()
            yield frame

    def _fail(self, error: STTError) -> None:
        self._event(Error(error.code, str(error)))  # message and hint
        self.status = "error"

    # -- kernel → browser, throttled --
    def _event(self, event: Event) -> None:
        """The widget's own events (a page error, a recording that could not start)."""
        self.transcript.add(event)
        self._show(event)

    def _show(self, event: Event) -> None:
        self._outbox.add(event, utterance=len(self.transcript) - 1)
        if isinstance(event, Error):
            self.message = f"{event.code}: {event.message}"
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_at is None:
            self._flush_at = max(time.monotonic(), self._last_flush + self._interval)
            self._loop.call_later(self._flush_at - time.monotonic(), self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        if (message := self._outbox.drain()) is not None:
            self._last_flush = time.monotonic()
            self._tell_page(message)

    def _tell_page(self, message: dict[str, Any]) -> None:
        message["t"] = time.time() * 1000  # the page measures kernel → browser latency
        self.send(message)
