"""The text stage: written Korean (eojeol, numerals), Deepgram's text options offline, no invented
English words at pauses — on real speech, through every path a user takes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stt_notebook import Final, Session, StreamConfig, Word, audio, transcribe
from stt_notebook.engines import capabilities
from stt_notebook.text import TextStage, UnsupportedOptionWarning
from stt_notebook.text.korean import RECENT, Spacer, numerals, parse_sino_korean, spaced_words
from stt_notebook.text.options import censor, replace_words, search

from tests.support import (KO_CLIPS, PAUSE_CLIPS, connect, corpus_cer, corpus_wer, normalise_en, pause_spans, transcribe_over,
                          whole_file_beam5, with_pauses)

LONE = {"은", "는", "이", "가", "을", "를", "의", "에", "로", "으로", "와", "과", "도", "만", "면", "며", "고", "서", "게", "다", "해"}


def tokens(text: str, step: float = 0.3) -> list[Word]:
    return [Word(t, round(i * step, 3), round(i * step + step - 0.05, 3), 0.9 - i / 100) for i, t in enumerate(text.split())]


# -- pure pieces --

def test_marked_numbers_become_digits_with_their_counter_and_unmarked_syllables_stay():
    assert [w.text for w in numerals(tokens("지난해 [3] 월"))] == ["지난해", "3월"]
    assert [w.text for w in numerals(tokens("공사는 이 (천) (십) 팔 년 완공"))] == ["공사는", "2018년", "완공"]
    assert [w.text for w in numerals(tokens("이 노인 이 [2] 년전"))] == ["이", "노인", "이", "2년전"]
    assert [w.text for w in numerals(tokens("물론 십 대 자녀"))] == ["물론", "십", "대", "자녀"]  # no mark: words
    merged = numerals(tokens("이 (천) (십) 팔 년"))[0]
    assert (merged.start, merged.end, merged.confidence) == (0.0, 1.45, 0.86)  # first start, last end, lowest
    assert parse_sino_korean("이천십팔") == 2018 and parse_sino_korean("이이") is None


def test_spacing_merges_morphemes_into_eojeol_with_their_times():
    words = spaced_words(numerals(tokens("만약 박근혜 대통령이 정말 로 손 을 내밀 면")), Spacer.shared())
    assert [w.text for w in words] == ["만약", "박근혜", "대통령이", "정말로", "손을", "내밀면"]
    really = words[3]
    assert (really.start, really.end) == (0.9, 1.45) and really.confidence == pytest.approx(0.86)


def test_the_spacer_remembers_recent_texts_and_no_more():
    """A live final mostly repeats its last interim, so recent spacings are kept; whatever clients
    say, the spacer holds at most RECENT of them."""
    spacer = Spacer.shared()
    assert spacer.space("정말 로 손 을 내밀 면") == "정말로 손을 내밀면"
    for i in range(RECENT + 50):
        spacer.space(f"손 을 {i} 번 내밀 면")
    assert len(spacer._recent) <= RECENT
    assert spacer.space("정말 로 손 을 내밀 면") == "정말로 손을 내밀면"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["이", "(천)", "[3]", "(십)", "팔", "년", "월", "정말", "로", "[12]", "(만)", "<unk>", "a",
                                 "(", "[]", "손", "을", "구", "백", "([2])"]), max_size=12))
def test_no_token_sequence_makes_the_korean_stage_raise_or_lose_time_order(texts):
    words = spaced_words(numerals(tokens(" ".join(texts))), Spacer.shared())
    assert all(w.text and " " not in w.text and w.start <= w.end for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)


def test_replace_search_and_profanity_on_words():
    words = [Word("we", 0.0, 0.2, 0.9), Word("use", 0.2, 0.4, 0.8), Word("deep", 0.4, 0.6, 0.7),
             Word("gram", 0.6, 0.9, 0.95), Word("shit", 1.0, 1.2, 0.9)]
    replaced = replace_words(words, [("deep gram", "Deepgram"), ("we", "")])
    assert [w.text for w in replaced] == ["use", "Deepgram", "shit"] and replaced[1].start == 0.4
    assert [w.text for w in censor(replaced, "en")] == ["use", "Deepgram", "s***"]
    [hits] = search(words, ("deep gram",))
    assert [(h.start, h.end, h.confidence) for h in hits.hits] == [(0.4, 0.9, 0.7)]
    assert search(words, ("us",))[0].hits == ()  # Latin queries match whole words
    assert search([Word("손을", 1.0, 1.3, 0.8)], ("손",))[0].hits[0].snippet == "손을"  # Korean: inside an eojeol


def test_an_option_an_engine_cannot_honour_is_reported_once_by_name():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        stage = TextStage(StreamConfig(language="ko", keyterm=("안철수",), diarize=True), "vosk", capabilities("vosk"))
        TextStage(StreamConfig(language="ko", keyterm=("안철수",), diarize=True), "vosk", capabilities("vosk"))
    assert stage.unsupported == ["diarize", "keyterm"]
    said = [str(w.message) for w in caught if issubclass(w.category, UnsupportedOptionWarning)]
    assert len(said) == 2 and any("keyterm" in m and "boosting" in m for m in said)  # once each, by name
    assert TextStage(StreamConfig(language="en", keyterm=("Dashwood",)), "whisper", capabilities("whisper")).unsupported == []
    assert TextStage(StreamConfig(language="ko", diarize=True), "deepgram", capabilities("deepgram")).unsupported == []


# -- real Korean speech --

def test_zeroth_reads_as_written_korean(zeroth):
    words = [w for t in zeroth.values() for w in t.words.word]
    assert sum(w in LONE for w in words) / len(words) <= 0.05  # today's raw tokens: 24.9 %
    assert corpus_cer([r for _, r in KO_CLIPS], [zeroth[p.name].text for p, _ in KO_CLIPS]) <= 0.15
    table = zeroth["104_003_0374.flac"].words.set_index("word")
    for eojeol in ("정말로", "손을"):
        assert table.loc[eojeol, "start"] <= table.loc[eojeol, "end"]
    assert "3월" in zeroth["104_003_0019.flac"].words.word.tolist()
    assert "2018년" in zeroth["104_003_0253.flac"].words.word.tolist()
    assert "2년" in zeroth["104_003_0451.flac"].text
    tokens_ = zeroth["104_003_0374.flac"].tokens.word.tolist()
    assert "로" in tokens_ and "을" in tokens_  # the recognizer's own tokens stay available
    srt = zeroth["104_003_0374.flac"].to_srt()
    assert "정말로 손을" in srt


def test_numerals_off_gives_the_spoken_form():
    path = next(p for p, _ in KO_CLIPS if p.name == "104_003_0019.flac")
    plain = transcribe(path, language="ko", smart_format=False, numerals=False, progress=False)
    assert "삼" in plain.text and "3월" not in plain.text


def _assert_same_written_words(words: list[str], reference: list[str]) -> None:
    """The text stage's work (eojeol, numerals) matches word for word, punctuation aside (the relay
    does not punctuate unless asked); a decode in another process may differ by a word (Whisper's
    and Vosk's are not bit-exact from one process to another: 위축/비축)."""
    bare, ref = [w.rstrip(".,?!") for w in words], [w.rstrip(".,?!") for w in reference]
    assert len(bare) == len(ref) and sum(a != b for a, b in zip(bare, ref)) <= 1, (words, reference)
    assert "3월" in bare and "장관의" in bare, words


def test_the_same_korean_words_from_file_cli_relay_and_serve_deepgram(zeroth, server, deepgram_url, use_deepgram):

    path = next(p for p, _ in KO_CLIPS if p.name == "104_003_0019.flac")
    reference = transcribe(path, language="ko", progress=False).words.word.tolist()  # the file path, Korean's default
    assert "3월" in reference
    cli = subprocess.run([sys.executable, "-m", "stt_notebook.cli", "transcribe", str(path), "--realtime",
                          "--format", "csv"], capture_output=True, text=True, timeout=120)
    _assert_same_written_words([line.split(",")[1] for line in cli.stdout.splitlines()[1:]], reference)

    async def relay():
        async with connect(server) as ws:
            frames, _ = await transcribe_over(ws, audio.load_pcm16(path), binary=True)
        return [w["word"] for f in frames if f["type"] == "transcript_final" for w in f["words"]]

    _assert_same_written_words(asyncio.run(relay()), reference)
    use_deepgram(deepgram_url)
    t = asyncio.run(Session("ko", engine="deepgram").run(audio.load_pcm16(path)))
    _assert_same_written_words(t.words.word.tolist(), reference)


def test_deepgram_text_options_change_what_every_path_shows(server, deepgram_url, use_deepgram):

    path = next(p for p, _ in KO_CLIPS if p.name == "104_003_0374.flac")
    options = {"replace": ["안철수:안 대표"], "search": ["대통령"]}
    t = transcribe(path, language="ko", progress=False, **options)
    assert "안 대표" in t.words.word.tolist() and "안철수" not in t.text
    hit = t.search.iloc[0]
    assert hit.query == "대통령" and hit.snippet == "대통령이" and 1.0 < hit.start < hit.end < 2.5

    cli = subprocess.run([sys.executable, "-m", "stt_notebook.cli", "transcribe", str(path), "--option",
                          "replace=안철수:안 대표", "--option", "search=대통령"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and "안 대표" in cli.stdout and "search 대통령: 1 hit at 1.5" in cli.stderr

    async def relay():
        async with connect(server) as ws:
            frames, _ = await transcribe_over(ws, audio.load_pcm16(path), binary=True, start={"language": "ko", **options})
        return [f for f in frames if f["type"] == "transcript_final"]

    finals = asyncio.run(relay())
    assert any("안 대표" in f["text"] for f in finals)
    assert [h["snippet"] for f in finals for r in f.get("search", []) for h in r["hits"]] == ["대통령이"]

    use_deepgram(deepgram_url)  # a Deepgram-style query: ?replace=…&search=…
    dg = asyncio.run(Session("ko", engine="deepgram", **options).run(audio.load_pcm16(path)))
    assert "안 대표" in dg.text and dg.search.snippet.tolist() == ["대통령이"]


# -- English in phrases with pauses --

@pytest.fixture(scope="module")
def dictation():
    """The LibriVox phrases, "go forward ten meters" and JFK joined by 1.5 s pauses, with trailing
    silence (97 words: they made Whisper invent "I'll see you next time", "This is the first one"
    and "Thank you very much"), and the bar: the same model decoding the whole file with beam 5."""
    pcm, reference = with_pauses(PAUSE_CLIPS)
    return pcm, reference, pause_spans(PAUSE_CLIPS), corpus_wer([reference], [whole_file_beam5(pcm)])


@pytest.mark.parametrize("realtime", [False, True], ids=["full speed", "live"])
def test_english_at_pauses_has_no_invented_words_and_the_whole_files_accuracy(dictation, realtime):
    pcm, reference, spans, whole_file_wer = dictation
    t = asyncio.run(Session("en", engine="whisper").run(pcm, realtime=realtime))
    words = t.words
    words_in_reference = len(normalise_en(reference).split())  # 97: two points are two words
    assert corpus_wer([reference], [t.text]) * words_in_reference <= whole_file_wer * words_in_reference + 2.01, (
        t.text, whole_file_wer)
    assert ((words.end - words.start) > 0).all()  # no zero-length word
    middles = (words.start + words.end) / 2
    assert all(any(a - 0.3 <= m <= b + 0.3 for a, b in spans) for m in middles), t.text  # all inside speech
    assert "thank" not in t.text.lower() and "next time" not in t.text.lower()


def test_keyterm_reaches_whisper_and_changes_the_words():
    path = next(p for p, _ in PAUSE_CLIPS if p.stem == "sense_and_sensibility_01_austen_64kb-0880")
    plain = transcribe(path, language="en", progress=False)
    boosted = transcribe(path, language="en", keyterm=["ill-disposed"], progress=False)
    assert "ill" not in plain.text.lower().split()  # tiny.en alone hears "old-sposed"
    assert "ill" in boosted.text.lower().replace("-", " ").split()


def test_search_hits_survive_save_and_load(tmp_path):
    path = next(p for p, _ in KO_CLIPS if p.name == "104_003_0374.flac")
    t = transcribe(path, language="ko", search=["선택"], progress=False)
    t.save(tmp_path / "t.json")
    back = type(t).load(tmp_path / "t.json")
    import pandas as pd

    assert len(back.search) == 1
    pd.testing.assert_frame_equal(back.search, t.search, atol=1e-4)  # the wire keeps 4 decimals
    pd.testing.assert_frame_equal(back.tokens, t.tokens, atol=1e-4)
    assert isinstance(back.finals[0], Final) and json.loads(t.to_json())["events"]


def test_an_endpointing_vosk_cannot_honour_is_reported_by_name():
    """Vosk ends utterances after its model's 0.5 s (its binding has no endpointer setting): any
    other endpointing is reported, never dropped in silence; whisper honours it."""
    from stt_notebook.text import unsupported

    assert unsupported(StreamConfig(endpointing=300), "vosk", capabilities("vosk")) == ["endpointing"]
    assert unsupported(StreamConfig(endpointing=500), "vosk", capabilities("vosk")) == []
    assert unsupported(StreamConfig(endpointing=300), "whisper", capabilities("whisper")) == []
