from hypothesis import given
from hypothesis import strategies as st

from stt_notebook.events import (Error, Final, Interim, SpeechStarted, UtteranceEnd, Word, from_wire,
                                 join_words, to_wire)

times = st.floats(0, 10_000, allow_nan=False).map(lambda x: round(x, 3))
words = st.builds(lambda t, s, d, c, sp: Word(t, s, round(s + d, 3), round(c, 4), sp),
                  st.text(min_size=1, max_size=8), times, st.floats(0, 5).map(lambda x: round(x, 3)),
                  st.floats(0, 1), st.none() | st.integers(0, 5))


@given(st.lists(words, max_size=6), st.booleans(), st.booleans())
def test_final_survives_the_wire(ws, speech_final, from_finalize):
    start = ws[0].start if ws else 0.0
    event = Final("x", 0.5, start, round(start + 1.25, 3), tuple(ws), speech_final, from_finalize)
    frame = to_wire(event)
    assert frame["type"] == "transcript_final" and frame["is_final"] is True
    back = from_wire(frame)
    assert back.words == event.words and back.speech_final == speech_final
    assert abs(back.end - event.end) < 1e-6


def test_wire_shapes_follow_the_design():
    w = Word("안녕", 0.5, 0.9, 0.8)
    interim = to_wire(Interim("안녕", 0.8, 0.5, 0.9, (w,)), timestamp=1.0)
    assert set(interim) >= {"type", "text", "confidence", "is_final", "speech_final", "start", "duration",
                            "timestamp", "words"}
    assert interim["type"] == "transcript_interim" and interim["is_final"] is False
    assert interim["words"][0] == {"word": "안녕", "start": 0.5, "end": 0.9, "confidence": 0.8}
    assert to_wire(SpeechStarted(1.5)) == {"type": "speech_started", "timestamp": 1.5}
    assert to_wire(UtteranceEnd(2.0), timestamp=9.0) == {"type": "utterance_end", "last_word_end": 2.0, "timestamp": 9.0}
    err = to_wire(Error("RATE_LIMITED", "slow down", retry_after=2.0))
    assert err == {"type": "error", "code": "RATE_LIMITED", "message": "slow down", "retry_after": 2.0}
    assert from_wire(err) == Error("RATE_LIMITED", "slow down", 2.0)


def test_unknown_or_broken_frames_raise_value_error():
    import pytest

    for frame in ({"type": "nope"}, {"type": "transcript_final", "text": "x"}, {}):
        with pytest.raises(ValueError):
            from_wire(frame)


def test_join_words_attaches_pieces():
    ws = [Word("fat", 0, 1, 1, punctuated="fat"), Word("mutton", 1, 2, 1, punctuated="-mutton"),
          Word("pieces", 2, 3, 1, punctuated="pieces.")]
    assert join_words(ws) == "fat-mutton pieces."


def test_scripts_written_without_spaces_are_joined_without_them():
    """Whisper's Japanese words are pieces of one run of text; Korean eojeol and a Latin term
    inside Japanese keep their spaces."""
    def text(*pieces: str) -> str:
        return join_words([Word(p, 0, 1, 1) for p in pieces])

    assert text("今日は", "と", "て", "も", "天", "気", "ですね。") == "今日はとても天気ですね。"
    assert text("東京", "で", "Python", "を") == "東京で Python を"
    assert text("오늘은", "날씨가", "좋네요.") == "오늘은 날씨가 좋네요."
    assert text("我们", "今天", "去", "北京", "。") == "我们今天去北京。"
