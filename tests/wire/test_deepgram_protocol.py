"""Deepgram's /v1/listen protocol, pure: every recorded message, queries, rules, error mapping."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stt_notebook import ConfigError, Final, Interim, SpeechStarted, StreamConfig, UtteranceEnd
from stt_notebook.deepgram.protocol import (Metadata, build_query, close_error, handshake_error,
                                            parse_message)
from stt_notebook.events import Error
from tests.support import DATA

VECTORS = DATA / "deepgram"
SDK_RESPONSES = sorted(VECTORS.glob("deepgram-python-sdk@*/*-response.json"))
WIRE_FRAMES = json.loads((VECTORS / "extracted_wire_frames.json").read_text("utf-8"))


def test_there_are_vectors():
    assert len(SDK_RESPONSES) == 9 and len(WIRE_FRAMES) == 14


@pytest.mark.parametrize("path", SDK_RESPONSES, ids=lambda p: f"{p.parent.name[-8:]}-{p.name[-30:-14]}")
def test_recorded_sdk_results(path):
    raw = json.loads(path.read_text("utf-8"))
    raw.setdefault("type", "Results")  # the SDK re-serialised some without their type
    event = parse_message(json.dumps(raw))
    alternative = raw["channel"]["alternatives"][0]
    assert isinstance(event, Final if raw.get("is_final", True) else Interim)
    assert event.text == alternative["transcript"]
    assert [w.text for w in event.words] == [w["word"] for w in alternative["words"]]
    assert [w.punctuated for w in event.words] == [w.get("punctuated_word") for w in alternative["words"]]
    for w in event.words:
        assert 0 <= w.start <= w.end and 0 <= w.confidence <= 1
    assert abs(event.end - (raw.get("start", 0) + raw.get("duration", 0))) < 1e-6


@pytest.mark.parametrize("frame", WIRE_FRAMES, ids=lambda f: f["kind"])
def test_recorded_wire_frames(frame):
    raw = json.loads(frame["raw"])
    message = parse_message(frame["raw"])
    kind = raw["type"]
    if kind == "Results":
        alternative = raw["channel"]["alternatives"][0]
        assert isinstance(message, Final if raw["is_final"] else Interim)
        assert message.text == alternative["transcript"] and len(message.words) == len(alternative["words"])
        if isinstance(message, Final):
            assert message.speech_final == raw["speech_final"]
            assert message.from_finalize == raw.get("from_finalize", False)
        speakers = [w.get("speaker") for w in alternative["words"]]
        assert [w.speaker for w in message.words] == speakers
    elif kind == "Metadata":
        assert isinstance(message, Metadata) and message.request_id == raw["request_id"]
        assert message.duration == raw["duration"]
    elif kind == "SpeechStarted":
        assert message == SpeechStarted(raw["timestamp"])
    elif kind == "UtteranceEnd":
        assert message == UtteranceEnd(raw["last_word_end"])
    else:
        pytest.fail(f"unexpected vector type {kind}")


def test_unknown_types_are_tolerated_and_garbage_is_an_error_event():
    assert parse_message('{"type": "SomethingNew", "x": 1}') is None
    bad = parse_message("{not json")
    assert isinstance(bad, Error) and bad.code == "UPSTREAM_ERROR"
    err = parse_message('{"type": "Error", "variant": "SchemaError", "description": "bad message"}')
    assert isinstance(err, Error) and err.message == "bad message" and err.details == {"variant": "SchemaError"}


@given(st.one_of(st.text(max_size=300), st.sampled_from(["Results", "SpeechStarted", "UtteranceEnd", "Metadata", "Error"])
                .flatmap(lambda kind: st.dictionaries(st.text(max_size=12), st.none() | st.booleans() | st.floats()
                                                      | st.text(max_size=8), max_size=4)
                         .map(lambda extra: json.dumps({**extra, "type": kind})))))
def test_parser_never_raises(text):
    """Whatever a server sends (Deepgram's types with wrong fields included): an event, Metadata,
    or None for a type not used; a frame that is not Deepgram's JSON is an UPSTREAM_ERROR event."""
    message = parse_message(text)
    assert message is None or isinstance(message, (Final, Interim, SpeechStarted, UtteranceEnd, Metadata, Error))
    if isinstance(message, Error) and not text.lstrip().startswith("{"):
        assert message.code == "UPSTREAM_ERROR"


def test_default_query_is_what_the_issue_names():
    q = build_query(StreamConfig())
    assert q == [("model", "nova-2"), ("language", "ko"), ("encoding", "linear16"), ("sample_rate", "16000"),
                 ("channels", "1"), ("interim_results", "true"), ("punctuate", "true"), ("smart_format", "true"),
                 ("vad_events", "true"), ("utterance_end_ms", "1000")]


def test_lists_repeat_and_booleans_are_lower_case():
    q = build_query(StreamConfig(model="nova-3", keyterm=("Deepgram", "노트북"), diarize=True, endpointing=False,
                                 redact=("pci", "ssn"), tag=("demo",), extra={"team": "a"}, numerals=True))
    assert ("keyterm", "Deepgram") in q and ("keyterm", "노트북") in q
    assert q.count(("redact", "pci")) == 1 and ("redact", "ssn") in q
    assert ("diarize", "true") in q and ("endpointing", "false") in q and ("numerals", "true") in q
    assert ("extra", "team:a") in q and ("tag", "demo") in q
    assert all(v not in ("True", "False") for _, v in q)
    assert ("endpointing", "300") in build_query(StreamConfig(endpointing=300))


@pytest.mark.parametrize("options, words", [
    ({"interim_results": False}, "utterance_end_ms"),
    ({"keyterm": ("x",)}, "Nova-3"),
    ({"model": "nova-3", "keywords": ("x:2",)}, "keyterm"),
])
def test_documented_rules_fail_before_connecting(options, words):
    with pytest.raises(ConfigError) as e:
        build_query(StreamConfig(**options))
    assert words in str(e.value)


def test_handshake_refusals_map_to_codes():
    assert handshake_error(401, '{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials."}').code == "AUTH_ERROR"
    assert handshake_error(402).code == "API_LIMIT_EXCEEDED"
    assert handshake_error(400, "No such model/language/tier combination found.").code == "INVALID_CONFIG"
    limited = handshake_error(429, '{"err_code":"TOO_MANY_REQUESTS"}', retry_after="7")
    assert limited.code == "RATE_LIMITED" and limited.retry_after == 7.0
    assert handshake_error(503).code == "UPSTREAM_ERROR"


def test_close_codes_map_to_codes():
    assert close_error(1000) is None
    assert close_error(1008, "DATA-0000").code == "AUDIO_FORMAT_ERROR"
    idle = close_error(1011, "Deepgram did not receive audio data or a text message within the timeout window. "
                             "See https://dpgr.am/net0001")
    assert idle.code == "UPSTREAM_ERROR" and "NET-0001" in idle.message
    assert close_error(1011, "See https://dpgr.am/net0000").code == "UPSTREAM_ERROR"


def test_detect_language_and_diarize_model_as_deepgram_means_them():
    from stt_notebook.deepgram.protocol import config_from_query, results_message

    config = config_from_query([("detect_language", "true"), ("language", "ko"), ("diarize_model", "latest"),
                                ("encoding", "linear16")])
    assert config.language == "multi" and config.diarize  # diarize is then reported by name where unsupported
    heard = results_message(Final("안녕하세요", 0.9, 0.0, 1.0, language="ko"), "id", "nova-3")
    assert heard["channel"]["detected_language"] == "ko" and heard["channel"]["alternatives"][0]["languages"] == ["ko"]
    assert "detected_language" not in results_message(Final("hi", 0.9, 0.0, 1.0), "id", "nova-3")["channel"]
