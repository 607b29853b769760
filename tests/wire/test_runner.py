"""The runner (the connection's actions carried out on a loop, with real echo sessions) and the
wires' codecs, without sockets: what a client would be told, for orderly and hostile sequences."""

from __future__ import annotations

import asyncio
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stt_notebook import Session, StreamConfig, audio
from stt_notebook.errors import ErrorCode
from stt_notebook.events import Error, Final
from stt_notebook.wire.vocabulary import DRAIN, Audio, Close, Configure, Finalize, KeepAlive, ProtocolError, Start, Stop
from stt_notebook.wire.connection import Limits
from stt_notebook.wire.offer import offered_session
from stt_notebook.wire.runner import Host, Runner
from stt_notebook.wire.vocabulary import Closing, Configured, Stopped
from stt_notebook.wire.stt_ws import parse_frame
from stt_notebook.wire.listen import CLOSE, ListenCodec
from stt_notebook.widget.messages import Hello
from stt_notebook.widget.messages import commands as page_commands

SECOND = bytes(32000)


def echo_host(**limits) -> Host:
    return Host(Limits(**limits), lambda start: Session("ko", engine="echo", config=start.config))


async def run(runner_commands, one_session: bool = False, **limits):
    host, told = echo_host(**limits), []
    runner = Runner(host, told.append, one_session=one_session)
    for command in runner_commands:
        runner.receive(command)
    await asyncio.wait_for(runner.done, 10)
    return host, told


async def test_audio_then_stop_is_finals_then_a_summary_and_the_session_is_gone():
    host, told = await run([Start("echo"), Audio(SECOND), Finalize(), KeepAlive(), Stop(), DRAIN])
    finals = [o for o in told if isinstance(o, Final)]
    stopped = [o for o in told if isinstance(o, Stopped)]
    assert finals and finals[0].text == "32000 bytes"
    assert len(stopped) == 1 and stopped[0].audio_seconds == 1.0 and told[-1] == DRAIN_CLOSING
    assert host.sessions == set() and host.runners == set()


async def test_bad_input_is_a_coded_error_and_the_connection_goes_on():
    bad = parse_frame('{"type": "start_transcription", "config": {"utterance_end_ms": "1500"}}')
    host, told = await run([bad, Audio(SECOND), Start("echo"), Audio(SECOND), DRAIN])
    errors = [o for o in told if isinstance(o, Error)]
    assert [e.code for e in errors] == [ErrorCode.INVALID_CONFIG]
    finals = [o for o in told if isinstance(o, Final)]
    assert [f.text for f in finals] == ["32000 bytes"]  # the good start's audio, only


async def test_a_refused_start_refuses_its_audio_with_one_error_and_starts_nothing():
    """The audio after a refused start is not run as some default session, nor told 20 times."""
    for refused in (Start("vosk"), parse_frame('{"type": "start_transcription", "config": {"language": 5}}')):
        host, told = Host(Limits(), lambda start: offered_session(start, ("echo",), {})), []
        runner = Runner(host, told.append)
        for command in [refused] + [Audio(bytes(3200))] * 20 + [DRAIN]:
            runner.receive(command)
        await asyncio.wait_for(runner.done, 10)
        assert len([o for o in told if isinstance(o, Error)]) == 1, told
        assert not [o for o in told if isinstance(o, Final)]
        assert [o for o in told if isinstance(o, Stopped)] == [] and host.sessions == set()


async def test_a_drain_that_runs_out_of_time_tells_the_client_and_closes():
    """SIGTERM while a model still loads: past the drain's time the client gets SHUTTING_DOWN and a
    1001 close, never silence."""
    loading = asyncio.Event()

    class SlowStart(Session):
        async def start(self) -> None:
            await loading.wait()

    host, told = Host(Limits(), lambda start: SlowStart("ko", engine="echo", config=start.config)), []
    runner = Runner(host, told.append)
    runner.receive(Start("echo"))
    runner.receive(Audio(SECOND))
    await asyncio.sleep(0.05)
    await host.drain(1.0)
    assert [o.code for o in told if isinstance(o, Error)] == [ErrorCode.SHUTTING_DOWN]
    assert told[-1] == DRAIN_CLOSING and runner.done.done() and host.sessions == set()


async def test_a_sender_faster_than_the_limits_is_told_rate_limited_and_nothing_queued_is_lost():
    commands = [Start("echo")] + [Audio(bytes(3200))] * 30 + [DRAIN]
    host, told = await run(commands, max_queued_frames=10, max_realtime_factor=50.0, burst_seconds=0.0)
    limited = [o for o in told if isinstance(o, Error) and o.code == ErrorCode.RATE_LIMITED]
    taken = [o for o in told if isinstance(o, Stopped)][0].audio_seconds
    assert limited and round(taken / 0.1) + len(limited) == 30


async def test_a_silent_connection_is_closed_with_its_finals():
    host, told = echo_host(idle_timeout=0.3), []
    runner = Runner(host, told.append)
    runner.receive(Audio(SECOND))
    await asyncio.wait_for(runner.done, 10)
    assert any(isinstance(o, Final) for o in told) and isinstance(told[-2], Stopped)
    assert told[-1].why == "idle" and "0.3 s" in told[-1].message


async def test_a_one_session_stream_that_cannot_start_closes_failed():
    host = Host(Limits(), lambda start: Session("xx", engine="vosk", config=start.config))
    told = []
    runner = Runner(host, told.append, one_session=True)
    runner.receive(Start("vosk", None, StreamConfig(language="xx")))
    await asyncio.wait_for(runner.done, 10)
    assert isinstance(told[0], Error) and told[-1].why == "failed" and CLOSE["failed"][0] == 1011


async def test_the_host_drains_every_connection():
    host = echo_host()
    told: list[list] = [[], []]
    runners = [Runner(host, t.append) for t in told]
    for runner in runners:
        runner.receive(Audio(SECOND))
    await host.drain(10)
    assert all(t[-1] == DRAIN_CLOSING for t in told) and host.sessions == set()


DRAIN_CLOSING = Closing(DRAIN.why, DRAIN.message)

COMMANDS = st.one_of(
    st.builds(Audio, st.binary(max_size=400).map(lambda b: b[: len(b) // 2 * 2])),
    st.just(Finalize()), st.just(KeepAlive()), st.just(Stop()), st.just(Start("echo")),
    st.builds(lambda text: parse_frame(text), st.text(max_size=80)),
    st.builds(lambda data: parse_frame(data), st.binary(max_size=80)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(COMMANDS, max_size=12))
async def test_no_command_sequence_makes_the_runner_raise_or_leak(commands):
    host, told = await run([*commands, DRAIN])
    assert told[-1] == DRAIN_CLOSING and host.sessions == set()
    assert all(not isinstance(o, Error) or o.code != ErrorCode.ENGINE_ERROR for o in told), told


@settings(max_examples=1500, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                 st.sampled_from(["Finalize", "CloseStream", "KeepAlive", "Nope"]).map(lambda t: json.dumps({"type": t}))),
       st.sampled_from([8000, 16000, 44100, 48000]), st.integers(1, 2))
def test_the_listen_codec_never_raises(frame, rate, channels):
    codec = ListenCodec(StreamConfig(language="en", sample_rate=rate, channels=channels), "id")
    for command in codec.commands(frame):
        assert isinstance(command, (Audio, Finalize, KeepAlive, Stop, Close, ProtocolError))
        if isinstance(command, ProtocolError):
            assert codec.render(Error(command.code, command.message))[0]["variant"] == "SchemaError"


JSONISH = st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                       lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                       max_leaves=12)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(JSONISH, st.dictionaries(st.just("type"), st.sampled_from(["audio", "start", "stop", "hello", "error"])
                                          | st.text(max_size=10)).flatmap(
    lambda base: st.dictionaries(st.sampled_from(["t", "seq", "code", "message"]),
                                                 JSONISH | st.just(10 ** 400) | st.just(float("nan")), max_size=3)
    .map(lambda extra: {**extra, **base}))),
       st.lists(st.binary(max_size=300), max_size=3))
def test_the_widget_codec_never_raises(content, buffers):
    for command in page_commands(content, buffers, max_bytes=200):
        assert isinstance(command, (Audio, Start, Stop, Hello, ProtocolError))
        if isinstance(command, Audio):
            assert len(command.pcm) % 2 == 0 and 0 < len(command.pcm) <= 200
            assert command.timestamp is None or abs(command.timestamp) < 1e12
        if isinstance(command, ProtocolError):
            assert len(json.dumps(command.frame())) < 1000


def test_listen_audio_is_resampled_to_16k_mono_and_close_stream_keeps_the_tail():
    codec = ListenCodec(StreamConfig(language="en", sample_rate=48000, channels=2), "id")
    stereo = audio.float_to_pcm16(__import__("numpy").zeros(48000 * 2, "float32"))
    got = b"".join(c.pcm for c in codec.commands(stereo) if isinstance(c, Audio))
    tail = codec.commands(json.dumps({"type": "CloseStream"}))
    got += tail[0].pcm
    assert abs(len(got) - 32000) <= 64 and isinstance(tail[-1], Stop)
    assert codec.commands(b"\x00" * 3) == [Close("bad_audio")] and CLOSE["bad_audio"] == (1008, "DATA-0000")


def test_listen_configure_is_deepgrams_with_its_failure_codes():
    nova3 = ListenCodec(StreamConfig(language="en", model="nova-3"), "id")
    assert nova3.commands(json.dumps({"type": "Configure", "keyterms": ["flour"], "features": {"numerals": True}})) == [
        Configure((("keyterm", ("flour",)), ("numerals", True)))]
    assert nova3.config.keyterm == ("flour",) and nova3.config.numerals
    refused = {
        json.dumps({"type": "Configure", "keyterms": ["word"] * 501}): "CONFIGURE_KEYTERM_LIMIT_EXCEEDED",
        json.dumps({"type": "Configure", "keyterms": "flour"}): "CONFIGURE_INTERNAL_ERROR",
        json.dumps({"type": "Configure", "features": {"language": True}}): "CONFIGURE_INTERNAL_ERROR",
        json.dumps({"type": "Configure", "features": {"numerals": "yes"}}): "CONFIGURE_INTERNAL_ERROR",
    }
    for frame, code in refused.items():
        [error] = nova3.commands(frame)
        assert isinstance(error, ProtocolError) and error.code == code
        assert nova3.render(Error(error.code, error.message)) == [
            {"type": "ConfigureFailure", "request_id": "id", "code": code, "description": error.message}]
    [error] = ListenCodec(StreamConfig(language="en"), "id").commands(json.dumps({"type": "Configure", "keyterms": ["x"]}))
    assert error.code == "CONFIGURE_KEYTERMS_NOT_SUPPORTED"  # nova-2: Deepgram takes mid-stream keyterms on Nova-3 only
    assert nova3.render(Configured({"keyterm": ("flour",)})) == [
        {"type": "ConfigureSuccess", "request_id": "id", "keyterms": ["flour"]}]


def test_ws_stt_configure_changes_only_what_may_change_mid_stream():
    assert parse_frame(json.dumps({"type": "configure", "config": {"numerals": True, "keyterm": ["안철수"]}})) == Configure(
        (("numerals", True), ("keyterm", ("안철수",))))
    for config in ({"language": "en"}, {"numerals": "yes"}, {}, [1]):
        error = parse_frame(json.dumps({"type": "configure", "config": config}))
        assert isinstance(error, ProtocolError) and error.code == ErrorCode.INVALID_CONFIG
