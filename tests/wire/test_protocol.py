"""The /ws/stt parser on arbitrary frames: a message or a coded error, never an exception."""

import base64
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from stt_notebook.errors import ErrorCode
from stt_notebook.wire.vocabulary import Audio, ProtocolError, Start, Stop
from stt_notebook.wire.stt_ws import parse_frame

CODES = {v for k, v in vars(ErrorCode).items() if k.isupper()}
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
messages = st.fixed_dictionaries(
    {"type": st.sampled_from(["start_transcription", "audio_data", "stop_transcription", "other", 3, None])},
    optional={"config": json_values, "audio": st.text(max_size=40) | st.binary(max_size=40).map(
        lambda b: base64.b64encode(b).decode()), "timestamp": json_values, "chunk_id": json_values})


def check(result):
    assert isinstance(result, (Start, Audio, Stop, ProtocolError))
    if isinstance(result, ProtocolError):
        assert result.code in CODES and result.message
    if isinstance(result, Audio):
        assert len(result.pcm) % 2 == 0


@settings(max_examples=300)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_any_frame(frame):
    check(parse_frame(frame, max_bytes=100))


@settings(max_examples=300)
@given(messages)
def test_any_message_shaped_json(message):
    check(parse_frame(json.dumps(message)))


def test_valid_messages():
    assert parse_frame(json.dumps({"type": "stop_transcription"})) == Stop()
    a = parse_frame(json.dumps({"type": "audio_data", "audio": base64.b64encode(b"\x01\x00" * 4).decode(),
                                "timestamp": 1.5, "chunk_id": 7}))
    assert a == Audio(b"\x01\x00" * 4, 1.5, 7)
    s = parse_frame(json.dumps({"type": "start_transcription",
                                "config": {"language": "en", "engine": "whisper", "endpointing": 300}}))
    assert isinstance(s, Start) and s.engine == "whisper" and s.config.endpointing == 300
    assert parse_frame(b"\x00\x00" * 10) == Audio(b"\x00\x00" * 10)
