"""Whisper base, offline: Korean by default, every language Whisper knows, ``multi`` detecting
each utterance's language, and no words where nobody speaks."""

from __future__ import annotations

import numpy as np

from stt_notebook import Session, audio, transcribe

from .conftest import DATA, EN_CLIPS, KO_CLIPS, corpus_cer, corpus_wer

SPANISH = "El tren sale de la estación a las nueve de la mañana. Mi hermana compró pan y leche en el mercado."


async def test_multi_hears_korean_then_english_and_tags_each_utterance():
    (ko, ko_ref), (en, en_ref) = KO_CLIPS[7], EN_CLIPS[0]
    pcm = audio.load_pcm16(ko) + bytes(2 * audio.SAMPLE_RATE * 2) + audio.load_pcm16(en)
    u = (await Session("auto", "multi").run(pcm)).utterances
    assert list(u.language) == ["ko", "en"], u
    assert corpus_cer([ko_ref], [u.text[0]]) <= 0.15 and corpus_wer([en_ref], [u.text[1]]) <= 0.15, list(u.text)


def test_spanish_runs_offline_end_to_end():
    t = transcribe(DATA / "tts" / "es.flac", "es", progress=False)
    assert t.engine == "whisper" and corpus_wer([SPANISH], [t.text]) <= 0.2, t.text
    assert set(t.utterances.language) == {"es"}


async def test_silence_and_steady_noise_give_no_words():
    """Whisper fills silence and noise with "시청해주셔서 감사합니다" when it is asked to decode them:
    30 s of each, Korean."""
    rng = np.random.default_rng(3)
    silence = bytes(30 * audio.SAMPLE_RATE * 2)
    hum = np.sin(2 * np.pi * 120 * np.arange(30 * audio.SAMPLE_RATE) / audio.SAMPLE_RATE) * 0.02
    noise = audio.float_to_pcm16((rng.normal(0, 0.03, 30 * audio.SAMPLE_RATE) + hum).astype(np.float32))
    for pcm in (silence, noise):
        assert (await Session("auto", "ko").run(pcm)).text == ""
