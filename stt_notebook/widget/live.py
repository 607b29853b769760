"""``LiveTranscriber``: a notebook cell that listens and writes — interim text, final lines,
a confidence timeline — while ``w.transcript`` grows as a DataFrame-ready Transcript.

The widget is a thin traitlets façade over the one host adapter (:class:`~stt_notebook.wire.runner.Link`),
as the socket servers are: the page's comm messages are parsed by its codec
(:class:`~stt_notebook.widget.messages.PageCodec`), kernel-side sources (a file, a microphone
here) give Audio commands, and what the connection tells comes back coalesced for the view.

Threads: browser messages reach ``on_msg`` only when the kernel is idle, so the handler does
nothing but hand the message to a background event loop, which owns the connection and its
Session. Traits change on the kernel's own thread (:meth:`LiveTranscriber._set`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import anywidget
import traitlets

from .. import audio
from ..config import StreamConfig
from ..engines import Choice, choose, preload
from ..errors import ErrorCode, STTError
from ..events import Error, Event
from ..session import Session
from ..sources import microphone_frames, source_frames
from ..transcript import LOW_CONFIDENCE, Transcript
from ..wire.connection import Limits, State
from ..wire.runner import Host, Link
from ..wire.vocabulary import Audio, Closing, Configured, Outcome, ProtocolError, Start, Started, Stop, Stopped
from .html import static_view
from .messages import Hello, Outbox, PageCodec, snapshot

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
# one recording at a time; audio comes at real time (a file is paced here), and what arrives while
# the engine loads waits (about 10 minutes of frames), so the person's first words are kept
WIDGET_LIMITS = Limits(max_sessions=1, max_realtime_factor=1000.0, burst_seconds=3600.0,
                       max_queued_frames=6000, idle_timeout=0.0)
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

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Every synced trait is the kernel's (status, frame_ms, engine, …): the page reads them and
        speaks through messages, so a state update from the page changes nothing."""
        if sync_data:
            log.debug("ignored a page's update of %s", ", ".join(map(str, sync_data)))
    _uid = traitlets.Unicode().tag(sync=True)
    language = traitlets.Unicode("ko").tag(sync=True)
    engine = traitlets.Unicode("auto").tag(sync=True)
    engine_name = traitlets.Unicode("").tag(sync=True)
    source_kind = traitlets.Unicode("browser").tag(sync=True)
    source_label = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("idle").tag(sync=True)  # loading | idle | starting | recording | stopping | error
    message = traitlets.Unicode("").tag(sync=True)
    frame_ms = traitlets.Int(100).tag(sync=True)
    # how the page sends the microphone: "pcm" (PCM16, 256 kb/s: the least delay) or "opus" (the
    # browser's WebM/Opus at 32 kb/s, decoded here: for a kernel far away over a thin uplink)
    transport = traitlets.Unicode("pcm").tag(sync=True)
    low_confidence = traitlets.Float(LOW_CONFIDENCE).tag(sync=True)  # the timeline's threshold line
    input_advice = traitlets.Unicode("").tag(sync=True)  # "Your microphone is very quiet — …" while it is
    # what was heard, as of the last recording's end: saved with the notebook's widget state, it is
    # what a reopened notebook draws with no kernel to ask (large, so it changes only then)
    _saved = traitlets.Dict().tag(sync=True)
    # the browser's own processing of the microphone (getUserMedia constraints): off by default, so the
    # recognizer hears the voice itself; the kernel's level stage raises quiet speech instead
    echo_cancellation = traitlets.Bool(False).tag(sync=True)
    noise_suppression = traitlets.Bool(False).tag(sync=True)
    auto_gain_control = traitlets.Bool(False).tag(sync=True)

    def __init__(self, language: str = "ko", *, engine: str = "auto", model: str | None = None,
                 source: str | os.PathLike = "browser", device: int | str | None = None, frame_ms: int = 100, transport: str = "pcm",
                 updates_per_second: float = 20.0, echo_cancellation: bool = False,
                 noise_suppression: bool = False, auto_gain_control: bool = False, **options: Any):
        self.config = StreamConfig.from_options(language=language, model=model, **options)  # bad options fail here
        kind = source if source in ("browser", "sounddevice") else "file"
        if kind == "file" and not Path(source).is_file():
            raise STTError(f"No audio file at {os.fspath(source)!r}.",
                           hint='Pass source="browser", source="sounddevice" or the path of an audio file.',
                           code=ErrorCode.FILE_NOT_FOUND)
        self.model = model
        self.choice: Choice = choose(engine, language, model)  # resolved again only when engine or language change
        if transport not in ("pcm", "opus"):
            raise STTError(f"Unknown transport {transport!r}.", hint='Choose transport="pcm" (the default) or "opus".',
                           code=ErrorCode.INVALID_CONFIG)
        self._codec = PageCodec(opus=transport == "opus")  # the page's messages → commands (observed below)
        super().__init__(_uid=uuid.uuid4().hex, language=language, engine=engine, frame_ms=frame_ms, transport=transport,
                         echo_cancellation=echo_cancellation, noise_suppression=noise_suppression,
                         auto_gain_control=auto_gain_control, engine_name=self.choice.engine, source_kind=kind,
                         source_label=Path(source).name if kind == "file" else str(device or kind))
        self.source, self.device, self.options = source, device, dict(options)
        self.transcript = Transcript(language=language, engine=self.engine_name)
        self.session: Session | None = None  # the current (or last) recording's
        self.up_latency_ms: deque[float] = deque(maxlen=10_000)  # browser send → kernel loop, per frame
        self._interval = 1.0 / updates_per_second
        self._outbox = Outbox()
        self._flush_at: float | None = None
        self._last_flush = 0.0
        self._offset = 0.0  # seconds of audio in earlier recordings
        self._host = Host(WIDGET_LIMITS, self._open_session)
        self._link: Link | None = None
        self._run: concurrent.futures.Future | None = None  # done when the current recording has ended
        self._run_failed = False  # an error was told during the current recording
        self._kernel = _running_loop()  # traits change on this loop's thread (None: outside a kernel, at once)
        self._kernel_thread = threading.get_ident()
        self._pending: dict[str, Any] = {}
        self._pending_lock = threading.Lock()
        self._stop_capture = asyncio.Event()  # set: a kernel-side source stops capturing
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
            future = preload(self.choice)
        except STTError:
            return  # the first recording reports it, in the words of the error
        self._loading = future
        if not future.done():
            self.status = "loading"  # (on the kernel's thread: a trait observer)
            future.add_done_callback(lambda f: self._loop.call_soon_threadsafe(self._loaded, f))
        elif self.status == "loading":
            self._loaded(future)  # switched back to an engine that is already loaded

    def _loaded(self, future: concurrent.futures.Future) -> None:
        if future is not self._loading or self._status() != "loading" or self.recording:
            return  # another engine was chosen since, or a recording reports its own state
        if (error := future.exception()) is not None:  # shown now; the transcript records a recording's own errors
            code = error.code if isinstance(error, STTError) else ErrorCode.ENGINE_ERROR
            self._set(status="error", message=f"{code}: {error}")
        else:
            self._set(status="idle")

    def __repr__(self) -> str:
        return (f"<LiveTranscriber {self.language} {self.engine_name} from {self.source_label}, {self.status}: "
                f"{len(self.transcript.utterances)} utterances, {self.audio_seconds:.1f}s audio>")

    @traitlets.validate("language", "engine")
    def _check_engine(self, proposal: dict[str, Any]) -> str:
        values = {"language": self.language, "engine": self.engine, proposal["trait"].name: proposal["value"]}
        try:
            self.choice = choose(values["engine"], values["language"], self.model)
        except STTError as e:
            raise traitlets.TraitError(f"{e}") from None
        self.engine_name = self.choice.engine
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

    def close(self) -> None:
        """Close the widget: a recording stops first (what was heard stays in ``transcript``) and its
        session ends, releasing the recognizer; then the view goes."""
        if getattr(self, "_run", None) is not None and self.recording:  # (a widget whose __init__ failed has none)
            try:
                self.stop(timeout=30)
            except STTError:
                pass  # the error is in the transcript; the widget closes all the same
        super().close()

    def wait(self, timeout: float | None = None) -> Transcript:
        """Block until the current recording ends (a file source: when the file has played)."""
        self._in_loop(lambda: None)  # page messages the kernel already handed over are taken first
        if (run := self._run) is not None:
            concurrent.futures.wait([run], timeout)
        self._apply()
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
        try:
            done.result()
        finally:
            self._apply()

    # -- traits: set on the kernel's thread, whichever thread decides them --
    def _set(self, **traits: Any) -> None:
        """From the background loop, trait changes wait for the kernel's loop (or the next call of
        the Python API, on the kernel's thread): a trait's observers and comm messages run where
        the kernel runs them."""
        if self._kernel is None or threading.get_ident() == self._kernel_thread:
            self._apply(traits)
            return
        with self._pending_lock:
            first = not self._pending
            self._pending.update(traits)
        if first:
            try:
                self._kernel.call_soon_threadsafe(self._apply)
            except RuntimeError:  # the kernel's loop is gone (shutting down): apply here
                self._apply()

    def _apply(self, traits: dict[str, Any] | None = None) -> None:
        with self._pending_lock:
            pending, self._pending = {**self._pending, **(traits or {})}, {}
        if pending:
            with self.hold_sync():
                for name, value in pending.items():
                    setattr(self, name, value)

    def _status(self) -> str:
        """The status as last decided (perhaps not yet set on the kernel's thread)."""
        with self._pending_lock:
            return self._pending.get("status", self.status)

    # -- browser → kernel: enqueue only; the loop parses (PageCodec) and hands over --
    def _on_msg(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        payload = [bytes(b) for b in buffers or ()]
        self._loop.call_soon_threadsafe(self._handle, content, payload, time.time())

    def _handle(self, content: dict[str, Any], buffers: list[bytes], received: float) -> None:
        for command in self._codec.commands((content, buffers)):
            if isinstance(command, Audio):
                if command.timestamp is not None:  # browser send → arrival here, PCM or Opus (its decoded samples)
                    self.up_latency_ms.append((received - command.timestamp) * 1000)
                if self.recording:  # frames still in flight after a stop have no recording to go to
                    self.link.command(command)
                    self._advise()
            elif isinstance(command, Start):
                self._begin()  # the widget's own engine, language and options: the page chooses nothing
            elif isinstance(command, Stop):
                self._end()
            elif isinstance(command, Hello):
                self._tell_page(snapshot(self.transcript))
            else:  # a coded error (a bad frame, the page could not capture): the connection tells it
                self.link.command(command)

    @traitlets.observe("transport")
    def _transport(self, change: Any) -> None:
        self._codec.opus = change["new"] == "opus"

    # -- recordings (all in the background loop): this widget hosts one connection --
    @property
    def link(self) -> Link:
        if self._link is None:  # made in the loop, on first use
            self._link = Link(self._host, self._codec, self._told, audio_starts=False, record=self.transcript)
        return self._link

    def _begin(self) -> None:
        if self.recording:
            return
        self._run = run = concurrent.futures.Future()
        self.session, self._run_failed = None, False
        self._set(status="starting", message="", input_advice="")
        try:
            config = self.config.with_options(language=self.language)  # checked when made; the language may have changed
        except STTError as e:
            self.link.command(ProtocolError(e.code, str(e), start=True))
            return
        self.link.command(Start(self.engine, self.model, config))
        if self.source_kind != "browser":
            self._stop_capture = asyncio.Event()
            self._loop.create_task(self._feed(run, self._stop_capture))

    def _open_session(self, start: Start) -> Session:
        """The Start, as this widget's: one Transcript whose times run on over every recording."""
        session = Session(start.config.language, engine=self.choice, model=start.model, config=start.config,
                          transcript=self.transcript, offset=self._offset)
        self.session = session
        self.transcript.engine = session.engine_name
        self._set(engine_name=session.engine_name)
        if not preload(self.choice).done():
            self._set(status="loading")
        return session

    def _end(self) -> None:
        if not self.recording:
            return
        self._set(status="stopping")
        if self.source_kind == "browser":
            self.link.command(Stop())  # the page sent every frame before "stop": all are taken
        else:
            self._stop_capture.set()  # the source stops capturing; its last frames go, then Stop

    async def _feed(self, run: concurrent.futures.Future, stop: asyncio.Event) -> None:
        """A kernel-side source (a file at real time, a microphone here) as Audio commands, then Stop."""
        frames = (source_frames(self.source, self.frame_ms, realtime=True) if self.source_kind == "file"
                  else microphone_frames(self.device, self.frame_ms, until=stop))
        try:
            async for frame in frames:
                if stop.is_set() or self._run is not run:
                    break
                self._outbox.level = max(audio.level_dbfs(frame), -100.0)  # the page's meter; JSON has no -inf
                self._schedule_flush()
                self.link.command(Audio(frame))
                self._advise()
        except STTError as e:  # no such device, an unreadable file: told in order, after the Start
            self.link.command(ProtocolError(e.code, str(e)))
        finally:
            if self._run is run:
                self.link.command(Stop())

    def _told(self, outcome: Outcome) -> None:
        """What the connection tells, in order: the recording's state, and events for the view (the
        session keeps them in the transcript, the connection's own errors included)."""
        if isinstance(outcome, Started):
            if self._status() in ("loading", "starting"):
                self._set(status="recording")
        elif isinstance(outcome, Stopped):
            if outcome.transcript is not None:  # not a Stop that found no session
                self._finish(outcome.audio_seconds)
        elif not isinstance(outcome, (Closing, Configured)):
            self._show(outcome)
            if isinstance(outcome, Error):
                self._run_failed = True
                if self.recording and self.link.runner.connection.state is State.READY:
                    self._finish(0.0)  # the recording could not start
                elif not self.recording:
                    self._set(status="error")

    def _finish(self, audio_seconds: float) -> None:
        run, self._run = self._run, None
        self._offset += audio_seconds
        self._set(status="error" if self._run_failed else "idle", _saved=snapshot(self.transcript))
        if self.source_kind != "browser":
            self._stop_capture.set()
            self._outbox.level = -100.0  # nothing is captured any more: the meter rests
        self._flush()
        if run is not None:
            run.set_result(None)

    def _advise(self) -> None:
        """Tell the person when their input stays too quiet or clips (the session's level stage measures)."""
        if self.session is not None and (advice := self.session.input_level.advice) != self.input_advice:
            self._set(input_advice=advice)

    # -- kernel → browser, throttled --
    def _show(self, event: Event) -> None:
        self._outbox.add(event, utterance=len(self.transcript) - 1)
        if isinstance(event, Error):
            self._set(message=f"{event.code}: {event.message}")
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_at is None:
            self._flush_at = max(time.monotonic(), self._last_flush + self._interval)
            self._loop.call_later(self._flush_at - time.monotonic(), self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        if (message := self._outbox.drain()) is not None:
            self._tell_page(message)
            self._last_flush = time.monotonic()  # after the send: updates stay an interval apart however long one takes

    def _tell_page(self, message: dict[str, Any]) -> None:
        message["t"] = time.time() * 1000  # the page measures kernel → browser latency
        self.send(message)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None
