"""The English offline engine on real LibriSpeech speech."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from stt_notebook import Final, Interim, Session, SpeechStarted, UnsupportedLanguageError, audio, samples, transcribe

from tests.support import EN_CLIPS, check_words, corpus_wer, normalise_en, stream_events


async def test_librispeech_wer_within_10_percent():
    hyps = []
    for path, _ in EN_CLIPS:
        t, _ = await stream_events(audio.load_pcm16(path), "en")
        hyps.append(t.text)
    wer = corpus_wer([r for _, r in EN_CLIPS], hyps)
    print(f"whisper tiny.en LibriSpeech WER over {len(hyps)} clips: {wer:.3f}")
    assert wer <= 0.10


async def test_realtime_stream_shows_interims_then_commits(en_clip):
    path, ref = en_clip
    t, events = await stream_events(audio.load_pcm16(path), "en", realtime=True)
    kinds = [type(e) for e in events]
    assert kinds[0] is SpeechStarted
    assert Interim in kinds and kinds.index(Interim) < kinds.index(Final)
    check_words(events)
    assert corpus_wer([ref], [t.text]) <= 0.35
    assert t.finals[-1].speech_final


@pytest.mark.parametrize("chunk_seconds", [0.3, 1.5])
async def test_words_do_not_depend_on_how_fast_the_machine_decodes(chunk_seconds):
    """A real-time stream's decode thread takes whatever audio arrived while it last decoded:
    small steps on a fast machine, big ones on a slow one. Both must give the same words
    (once, a prompt repeating the window's own words lost "in his" on a slower CI machine)."""
    from stt_notebook.config import StreamConfig
    from stt_notebook.engines.whisper import WhisperEngine

    clips = [c for c in EN_CLIPS if c[0].stem in ("1089-134686-0002", "1089-134686-0007")]
    step = int(chunk_seconds * 16000) * 2
    hyps = []
    for path, _ in clips:
        pcm = audio.load_pcm16(path)
        stream = WhisperEngine().stream(StreamConfig(language="en"))
        events = []
        for i in range(0, len(pcm), step):  # the calls the decode thread makes, without its timing
            events += stream._accept(pcm[i:i + step])
        events += stream._flush(True)
        await stream.close()
        hyps.append(" ".join(e.text for e in events if isinstance(e, Final) and e.text))
    assert corpus_wer([r for _, r in clips], hyps) <= 0.15, hyps


async def test_silence_and_noise_invent_no_text():
    rng = np.random.default_rng(0)
    quiet = np.concatenate([np.zeros(16000 * 2), rng.normal(0, 0.003, 16000 * 3)]).astype(np.float32)
    t, events = await stream_events(audio.float_to_pcm16(quiet), "en")
    assert not [e for e in events if isinstance(e, (Interim, Final))]
    assert t.text == ""


async def test_stop_mid_utterance_still_gives_the_final(en_clip):
    path, ref = en_clip
    pcm = audio.load_pcm16(path)
    cut = int(len(pcm) * 0.6) // 2 * 2
    t, events = await stream_events(pcm[:cut], "en")
    finals = [e for e in events if isinstance(e, Final)]
    assert finals and finals[-1].from_finalize
    heard = normalise_en(t.text).split()
    assert len(heard) >= 3 and heard[:2] == normalise_en(ref).split()[:2]


def test_english_only_model_refuses_other_languages():
    with pytest.raises(UnsupportedLanguageError):
        transcribe(EN_CLIPS[0][0], language="fr", engine="whisper", model="tiny.en", progress=False)


def test_the_encoder_reads_the_audio_and_enough_of_its_padding():
    """The engine encodes a window's frames plus CONTEXT_PAD of faster-whisper's zero padding, not all
    3000 frames (most of a decode's time); with 2 s of padding Whisper loops and loses sentences."""
    from stt_notebook.engines.whisper import CONTEXT_FLOOR, CONTEXT_PAD, fit_context

    def window(seconds: float) -> np.ndarray:
        features = np.zeros((80, 3000), np.float32)
        features[:, :int(seconds * 100)] = np.random.default_rng(1).normal(-0.5, 0.2, (80, int(seconds * 100)))
        return features

    for seconds in (0.5, 3.0, 9.3, 17.0, 24.5, 30.0):
        fitted = fit_context(window(seconds), CONTEXT_PAD, CONTEXT_FLOOR)
        frames = fitted.shape[1]
        assert frames == 3000 or frames - seconds * 100 >= CONTEXT_PAD, (seconds, frames)
        assert frames >= CONTEXT_FLOOR and frames % 100 == 0
        np.testing.assert_array_equal(fitted, window(seconds)[:, :frames])
    assert fit_context(window(3.0), CONTEXT_PAD, CONTEXT_FLOOR).shape[1] == CONTEXT_FLOOR
    assert fit_context(window(9.3), CONTEXT_PAD, CONTEXT_FLOOR).shape[1] == 1600


async def test_a_busy_machine_hears_the_same_words_only_later():
    """Live at real time while every core is taken by another process: the whole file's words,
    for English (tiny.en, agreement) and Korean (Whisper base, whole utterances)."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        for language in ("en", "ko"):
            pcm = audio.load_pcm16(samples.path(language))
            whole = await Session(language, engine="auto").run(pcm)
            live = await Session(language, engine="auto").run(pcm, realtime=True)
            assert words_of(live.text) == words_of(whole.text), (live.text, whole.text)
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def words_of(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


def test_whispers_threads_spin_briefly_on_a_shared_machine_unless_the_user_chose():
    """OpenMP reads GOMP_SPINCOUNT once, when CTranslate2 loads: the package sets it first (a busy
    machine's Korean final 28.9 s → 14.7 s after an 8 s clip, benchmarks/busy.py), a user's value stays."""
    # the value in the environment at the moment CTranslate2 is first imported, wherever that happens
    code = ("import importlib.abc, os, sys\n"
            "seen = []\n"
            "class Watch(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'ctranslate2' and not seen:\n"
            "            seen.append(os.environ.get('GOMP_SPINCOUNT'))\n"
            "sys.meta_path.insert(0, Watch())\n"
            "import stt_notebook.engines.whisper, ctranslate2\n"
            "print(seen[0])")
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    ours = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    theirs = subprocess.run([sys.executable, "-c", code], env={**env, "GOMP_SPINCOUNT": "500"}, capture_output=True,
                            text=True, timeout=120)
    assert (ours.stdout.strip(), theirs.stdout.strip()) == ("10000", "500"), (ours.stderr, theirs.stderr)
