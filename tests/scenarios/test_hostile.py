"""A hostile client against a real `jupyter server`: every bad frame gets a small coded error,
nothing raises, nothing leaks, and the server still transcribes afterwards."""

from __future__ import annotations

import asyncio
import json
import random
import urllib.request
from pathlib import Path

import pytest
import websockets
import websockets.exceptions
from hypothesis import given, settings
from hypothesis import strategies as st

from stt_notebook import audio
from stt_notebook.wire.vocabulary import Audio, ProtocolError, Start, Stop
from stt_notebook.wire.stt_ws import parse_frame

from tests.support import KO_CLIPS, TOKEN, connect, corpus_cer, finals_text, serve_deepgram, transcribe_over

# The reproductions from the issue: each once crashed the connection or reached the engine.
DEFECTS = [
    ('{"type":"start_transcription","config":{"engine":"echo","utterance_end_ms":1e400}}', "INVALID_CONFIG"),
    ('{"type":"stop_transcription","n":' + "9" * 5000 + "}", "INVALID_JSON"),
    ('{"type":"start_transcription","config":{"utterance_end_ms":"1500"}}', "INVALID_CONFIG"),
    ('{"type":"start_transcription","config":{"engine":"deepgram","extra":5}}', "INVALID_CONFIG"),
    ('{"type":"start_transcription","config":{"endpointing":"x"}}', "INVALID_CONFIG"),
    ('{"type":"start_transcription","config":{"model":"/etc"}}', "INVALID_CONFIG"),
    ('{"type":"start_transcription","config":{"model":"/nonexistent"}}', "INVALID_CONFIG"),
    ('{"type":"start_transcription","config":{"model":"no-such-model"}}', "MODEL_NOT_FOUND"),
    ('{"type":"start_transcription","config":{"engine":"deepgram"}}', "UNKNOWN_ENGINE"),  # not offered here
    ('{"type":"start_transcription","config":{"language":"' + "가" * 100_000 + '"}}', "PAYLOAD_TOO_LARGE"),  # 300 KB
    ('{"type":"' + "A" * 200_000 + '"}', "INVALID_MESSAGE"),
    ("[" * 100_000, "INVALID_JSON"),
]


def rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1]) / 1024


def info(server) -> dict:
    req = urllib.request.Request(server["http"] + "stt/info", headers={"Authorization": f"token {TOKEN}"})
    return json.loads(urllib.request.urlopen(req).read())


async def send_junk(ws, rng: random.Random, n: int) -> None:
    """Each junk frame, then a stop: only small errors come before its summary."""
    for _ in range(n):
        await ws.send(junk(rng))
        await ws.send('{"type": "stop_transcription"}')
        while (reply := json.loads(await asyncio.wait_for(ws.recv(), 30)))["type"] != "transcription_stopped":
            assert reply["type"] == "error" and len(json.dumps(reply)) < 1000, reply


def junk(rng: random.Random) -> str | bytes:
    """A frame that is wrong in one of the ways a careless or hostile client is."""
    value = rng.choice([rng.randint(-10**30, 10**30), rng.random() * 1e300, "x" * rng.randint(0, 300), None, True,
                        [1, [2, [3]]], {"a": {"b": {}}}, "1500", -1, 10**9])
    kind = rng.randrange(7)
    if kind == 0:
        return bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 400, 2)))  # odd: not whole samples
    if kind == 1:
        return "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(rng.randint(1, 200)))
    if kind == 2:
        return json.dumps({"type": rng.choice(["", "start", "audio", "STOP", "transcript_final", 7, None]), "x": value})
    if kind == 3:
        name = rng.choice(["utterance_end_ms", "endpointing", "interim_results", "language", "sample_rate",
                           "channels", "extra", "keyterm", "search", "model", "engine", "no_such_option"])
        return json.dumps({"type": "start_transcription", "config": {name: value if value is not None else [None]}})
    if kind == 4:
        return json.dumps({"type": "audio_data", "audio": rng.choice(["@@", "AAE", "AAEC", 5, None, ""])})
    if kind == 5:
        return json.dumps(value)
    return "{" * rng.randint(1, 50) + '"type"'


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.binary(max_size=600), st.text(max_size=600),
                 st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                              lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
                              max_leaves=20).map(lambda v: json.dumps({"type": "start_transcription", "config": v}))))
def test_the_codec_never_raises(frame):
    parsed = parse_frame(frame, max_bytes=1024)
    assert isinstance(parsed, (Start, Audio, Stop, ProtocolError))
    if isinstance(parsed, ProtocolError):
        assert len(json.dumps(parsed.frame())) < 1000  # small, whatever came in (the longest: the list of known options)


async def test_hostile_frames_get_small_coded_errors_and_the_server_keeps_transcribing(server):
    path, reference = KO_CLIPS[7]
    async with connect(server) as ws:  # the models the junk below may start are loaded first: RSS is measured from here
        for language in ("ko", "en"):
            await transcribe_over(ws, audio.load_pcm16(path)[:32000], binary=True, start={"language": language})
    async with connect(server) as ws:  # a first round of junk: what the server allocates once (spare
        await send_junk(ws, random.Random(13), 500)  # recognizers, caches) is in the baseline; a leak is not
    rss_before = rss_mb(server["pid"])
    async with connect(server) as ws:
        for frame, code in DEFECTS:
            await ws.send(frame)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert reply["type"] == "error" and reply["code"] == code, (frame[:60], reply)
            assert len(json.dumps(reply)) < 1000  # an error never echoes the input
        await send_junk(ws, random.Random(14), 1000)
    async with connect(server) as ws:  # a text frame that is not UTF-8: Tornado alone would drop the connection
        await ws.send(b'{"type": "\xff\xfe"}', text=True)
        reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert reply["type"] == "error" and reply["code"] == "INVALID_MESSAGE"
        await ws.send('{"type": "stop_transcription"}')
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "transcription_stopped"
    async with connect(server) as ws:  # a client that sends and never reads
        for _ in range(150):
            await ws.send('{"type":"' + "B" * 200_000 + '"}')
    await asyncio.sleep(1.0)
    assert json.loads(urllib.request.urlopen(server["http"] + "stt/health").read()) == {"status": "ok"}
    assert info(server)["sessions"]["active"] == 0
    assert rss_mb(server["pid"]) - rss_before < 20
    async with connect(server) as ws:  # past Tornado's own 10 MiB (after the RSS check: Tornado buffers it): told why, then 1009
        with pytest.raises(websockets.exceptions.ConnectionClosed):  # closed while it still sends
            await ws.send(bytes(11 << 20))
        reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert reply["type"] == "error" and reply["code"] == "PAYLOAD_TOO_LARGE"
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
        assert ws.close_code == 1009
    async with connect(server) as ws:
        frames, _ = await transcribe_over(ws, audio.load_pcm16(path), binary=True)
    assert corpus_cer([reference], [finals_text(frames)]) <= 0.15


async def test_an_empty_text_frame_is_refused_and_info_lists_only_the_offered_engines(server):
    async with connect(server) as ws:
        await ws.send(json.dumps({"type": "start_transcription", "config": {"engine": "echo"}}))
        await ws.send("")
        reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert reply["type"] == "error" and reply["code"] == "INVALID_JSON"
    assert info(server)["engine_names"] == ["vosk", "whisper", "echo"]  # no deepgram: the operator did not offer it


# -- serve-deepgram --


async def test_serve_deepgram_refuses_bad_languages_at_the_handshake_and_survives_garbage(deepgram_url):
    import websockets

    from tests.deepgram_servers import KEY

    path, reference = KO_CLIPS[7]
    pcm = audio.load_pcm16(path)
    headers = {"Authorization": f"Token {KEY}"}
    url = deepgram_url  # shared: it survives this client and serves the next test
    try:
        async with websockets.connect(f"{url}/v1/listen?language=xx&encoding=linear16&sample_rate=16000",
                                      additional_headers=headers):
            raise AssertionError("upgraded")
    except websockets.exceptions.InvalidStatus as e:
        assert e.response.status_code == 400 and b"xx" in e.response.body
    query = "language=ko&encoding=linear16&sample_rate=16000&interim_results=false"
    async with websockets.connect(f"{url}/v1/listen?{query}", additional_headers=headers, max_size=None) as ws:
        half = len(pcm) // 2 // 3200 * 3200
        for frame in audio.frames(pcm[:half], 100):
            await ws.send(frame)
        await ws.send("[" * 100_000)  # garbage: an Error, and the stream goes on
        await ws.send(bytes(2 << 20))  # past the 1 MiB frame limit: refused, and the stream goes on
        for frame in audio.frames(pcm[half:], 100):
            await ws.send(frame)
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages = [json.loads(m) async for m in ws]
        close = ws.close_code
    assert [m["variant"] for m in messages if m["type"] == "Error"] == ["SchemaError", "PAYLOAD_TOO_LARGE"]
    heard = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in messages
                     if m["type"] == "Results" and m["is_final"])
    assert corpus_cer([reference], [heard]) <= 0.15  # the audio after the garbage was heard too
    assert messages[-1]["type"] == "Metadata" and close == 1000


async def test_serve_deepgram_never_spends_the_operators_key_for_a_client():
    import socket
    import threading

    import websockets

    trap = socket.socket()
    trap.bind(("127.0.0.1", 0))
    trap.listen()
    trap.settimeout(0.2)
    dialed: list = []

    def watch():
        while not stop.is_set():
            try:
                dialed.append(trap.accept()[0])
            except OSError:
                continue

    stop = threading.Event()
    threading.Thread(target=watch, daemon=True).start()
    env = {"DEEPGRAM_API_KEY": "operators-secret-key", "DEEPGRAM_URL": f"ws://127.0.0.1:{trap.getsockname()[1]}"}
    proc, url = serve_deepgram(env)  # no --key, no --allow-cloud: anyone may connect, to the offline engines
    try:
        path, reference = KO_CLIPS[7]
        async with websockets.connect(f"{url}/v1/listen?language=ko&encoding=linear16&sample_rate=16000") as ws:
            for frame in audio.frames(audio.load_pcm16(path), 100):
                await ws.send(frame)
            await ws.send(json.dumps({"type": "CloseStream"}))
            messages = [json.loads(m) async for m in ws]
        heard = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in messages
                         if m["type"] == "Results" and m["is_final"])
        assert corpus_cer([reference], [heard]) <= 0.15  # answered offline
        assert dialed == []  # and nothing went to "Deepgram" with the operator's key
    finally:
        stop.set()
        proc.terminate()
        proc.wait(10)
        trap.close()
    refused, no_url = serve_deepgram(env, "--allow-cloud")  # the cloud needs client auth first
    refused.wait(30)
    assert no_url is None and refused.returncode != 0 and "--key" in refused.stderr.read()
