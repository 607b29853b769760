"""Whisper base, offline: Korean by default, every language Whisper knows, ``multi`` detecting
each utterance's language, and no words where nobody speaks."""

from __future__ import annotations

import numpy as np

from stt_notebook import Session, audio, transcribe

from tests.support import DATA, EN_CLIPS, KO_CLIPS, corpus_cer, corpus_wer, pause_spans, with_pauses

SPANISH = "El tren sale de la estación a las nueve de la mañana. Mi hermana compró pan y leche en el mercado."


async def test_multi_hears_korean_then_english_and_tags_each_utterance():
    (ko, ko_ref), (en, en_ref) = KO_CLIPS[7], EN_CLIPS[0]
    pcm = audio.load_pcm16(ko) + bytes(2 * audio.SAMPLE_RATE * 2) + audio.load_pcm16(en)
    u = (await Session("multi", engine="auto").run(pcm)).utterances
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
        assert (await Session("ko", engine="auto").run(pcm)).text == ""


def applause_and_music(seconds: float = 30.0, seed: int = 5) -> bytes:
    """Half applause (hundreds of claps: short decaying noise bursts at random), half music (a
    chord progression with harmonics over a kick drum): what Whisper captions as "감사합니다"."""
    rng, rate = np.random.default_rng(seed), audio.SAMPLE_RATE
    half = int(seconds / 2 * rate)
    claps = np.zeros(half, np.float32)
    for start in rng.integers(0, half - 800, int(seconds * 20)):
        claps[start:start + 800] += rng.normal(0, 0.3, 800) * np.exp(-np.arange(800) / 120)
    t = np.arange(half) / rate
    chords = [(220.0, 277.2, 329.6), (196.0, 246.9, 293.7), (174.6, 220.0, 261.6), (196.0, 246.9, 311.1)]
    music = np.zeros(half, np.float32)
    for i, chord in enumerate(chords * int(seconds)):
        span = slice(i * rate // 2, min(half, (i + 1) * rate // 2))
        for f in chord:
            for k, weight in ((1, 0.06), (2, 0.03), (3, 0.015)):
                music[span] += weight * np.sin(2 * np.pi * f * k * t[span])
    for beat in range(0, half, rate // 2):
        n = min(2000, half - beat)
        music[beat:beat + n] += 0.4 * np.sin(2 * np.pi * 60 * np.arange(n) / rate) * np.exp(-np.arange(n) / 400)
    return audio.float_to_pcm16(np.clip(np.concatenate([claps, music]), -1, 1).astype(np.float32))


async def test_applause_and_music_give_no_words():
    assert (await Session("ko", engine="auto").run(applause_and_music())).text == ""


async def test_korean_with_long_pauses_has_no_words_in_the_pauses():
    clips = KO_CLIPS[:3]
    pcm, reference = with_pauses(clips, pause=2.0)
    t = await Session("ko", engine="auto").run(pcm, realtime=False)
    spans = pause_spans(clips, pause=2.0)
    assert corpus_cer([reference], [t.text]) <= 0.15
    for w in t.words.itertuples():  # every word lies in a clip's speech (Whisper's times: 0.3 s slack)
        assert any(a - 0.3 <= w.start and w.end <= b + 0.3 for a, b in spans), (w.word, w.start, w.end, spans)
