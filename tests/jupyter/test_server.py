"""The /ws/stt relay inside a real `jupyter server` process, spoken to as any client would."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import urllib.request

import pytest
import websockets

from stt_notebook import audio

from tests.support import KO_CLIPS, SECRET, TOKEN, connect, corpus_cer, finals_text, run_jupyter_server, transcribe_over

@pytest.fixture(scope="module")
def tight_server(tmp_path_factory):
    """A second server with small limits, for the limit tests."""
    with run_jupyter_server(tmp_path_factory.mktemp("jp"), {"max_sessions": 1, "max_realtime_factor": 2.0, "burst_seconds": 1.0,
                                               "max_queued_frames": 50, "idle_timeout": 3.0},
                            env={"DEEPGRAM_API_KEY": SECRET}) as s:
        yield s



def info(server) -> dict:
    req = urllib.request.Request(server["http"] + "stt/info", headers={"Authorization": f"token {TOKEN}"})
    return json.loads(urllib.request.urlopen(req).read())



def test_health_is_open_and_info_needs_auth(server):
    assert json.loads(urllib.request.urlopen(server["http"] + "stt/health").read()) == {"status": "ok"}
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(urllib.request.Request(server["http"] + "stt/info"))
    assert e.value.code in (302, 403)
    body = info(server)
    assert body["audio"]["sample_rate"] == 16000 and body["limits"]["max_sessions"] == 24
    assert body["deepgram"] is False


def test_a_deepgram_key_never_leaves_the_server(tight_server):
    body = info(tight_server)
    assert body["deepgram"] is True and SECRET not in json.dumps(body)


def test_extension_is_enabled_by_install():
    r = subprocess.run([sys.executable, "-m", "jupyter", "server", "extension", "list"],
                       capture_output=True, text=True)
    out = r.stdout + r.stderr
    assert re.search(r"stt_notebook\s.*enabled", out), out


@pytest.mark.parametrize("binary", [False, True], ids=["base64", "binary"])
async def test_korean_speech_through_the_relay(server, binary):
    path, ref = KO_CLIPS[7]
    async with connect(server) as ws:
        frames, summary = await transcribe_over(ws, audio.load_pcm16(path), binary)
        types = [f["type"] for f in frames]  # sent faster than real time: Whisper's finals, no interims needed
        assert types.index("speech_started") < types.index("transcript_final") < types.index("utterance_end")
        assert corpus_cer([ref], [finals_text(frames)]) <= 0.15
        assert summary["words"] > 5 and summary["audio_seconds"] > 7
        # the same socket takes a new transcription after the summary
        frames2, _ = await transcribe_over(ws, audio.load_pcm16(KO_CLIPS[4][0]), binary)
        assert corpus_cer([KO_CLIPS[4][1]], [finals_text(frames2)]) <= 0.25


async def test_jupyters_own_metrics_count_relay_sessions(server):
    def scrape() -> dict[str, float]:
        req = urllib.request.Request(server["http"] + "metrics", headers={"Authorization": f"token {TOKEN}"})
        text = urllib.request.urlopen(req).read().decode()
        return {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines()
                if line.startswith(("stt_", "websocket_"))}

    before = scrape().get('stt_audio_seconds_total{wire="ws/stt"}', 0.0)
    pcm = audio.load_pcm16(KO_CLIPS[4][0])
    async with connect(server) as ws:
        await transcribe_over(ws, pcm, binary=True)
    after = scrape()
    assert after['stt_audio_seconds_total{wire="ws/stt"}'] - before == pytest.approx(audio.duration(pcm), abs=0.01)
    assert after['stt_latency_seconds_count{wire="ws/stt"}'] > 0 and after['stt_sessions_active{wire="ws/stt"}'] == 0


async def test_unauthenticated_and_foreign_origin_are_refused(server):
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        async with connect(server, headers={}):
            pass
    assert e.value.response.status_code == 403
    # a browser with the login cookie: same origin works, a foreign origin is refused
    port = server["port"]
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    opener.open(f"{server['http']}?token={TOKEN}")
    jar = next(h.cookiejar for h in opener.handlers if isinstance(h, urllib.request.HTTPCookieProcessor))
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    assert cookie
    async with connect(server, headers={"Cookie": cookie}, origin=f"http://127.0.0.1:{port}") as ws:
        await ws.send(json.dumps({"type": "stop_transcription"}))
        assert json.loads(await ws.recv())["type"] == "transcription_stopped"
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        async with connect(server, headers={"Cookie": cookie}, origin="http://evil.example"):
            pass
    assert e.value.response.status_code == 403


BAD_FRAMES = [
    ("{not json", "INVALID_JSON"),
    ('["a list"]', "INVALID_MESSAGE"),
    ('{"type": "dance"}', "INVALID_MESSAGE"),
    ('{"type": "audio_data", "audio": "@@not-base64@@"}', "AUDIO_FORMAT_ERROR"),
    ('{"type": "audio_data", "audio": "AAEC"}', "AUDIO_FORMAT_ERROR"),  # 3 bytes: odd
    (b"\x01\x02\x03", "AUDIO_FORMAT_ERROR"),
    (b"\x00" * (300 * 1024), "PAYLOAD_TOO_LARGE"),
    ('{"type": "start_transcription", "config": {"encoding": "speex"}}', "INVALID_CONFIG"),
    ('{"type": "start_transcription", "config": {"engine": "nope"}}', "UNKNOWN_ENGINE"),
    ('{"type": "start_transcription", "config": {"language": "xx"}}', "UNSUPPORTED_LANGUAGE"),
    ('{"type": "start_transcription", "config": {"interim_result": true}}', "INVALID_CONFIG"),
    ('{"type": "start_transcription", "config": {"engine": "whisper", "model": "tiny.en", "language": "fr"}}',
     "UNSUPPORTED_LANGUAGE"),
]


async def test_bad_input_gets_its_code_and_the_connection_still_works(server):
    path, ref = KO_CLIPS[7]
    async with connect(server) as ws:
        for frame, code in BAD_FRAMES:
            await ws.send(frame)
            reply = json.loads(await asyncio.wait_for(ws.recv(), 30))
            assert reply["type"] == "error" and reply["code"] == code, (frame[:40], reply)
            assert reply["message"]
        frames, _ = await transcribe_over(ws, audio.load_pcm16(path), binary=True)
        assert corpus_cer([ref], [finals_text(frames)]) <= 0.15


async def test_audio_before_start_uses_defaults(server):
    path, ref = KO_CLIPS[7]
    async with connect(server) as ws:
        for frame in audio.frames(audio.load_pcm16(path), 100):
            await ws.send(frame)
        await ws.send(json.dumps({"type": "stop_transcription"}))
        frames = []
        while (f := json.loads(await asyncio.wait_for(ws.recv(), 60)))["type"] != "transcription_stopped":
            frames.append(f)
        assert corpus_cer([ref], [finals_text(frames)]) <= 0.15


async def test_twenty_concurrent_sessions_each_get_their_own_words(server):
    clips = [KO_CLIPS[i % len(KO_CLIPS)] for i in range(20)]

    async def one(path):
        async with connect(server) as ws:
            frames, _ = await transcribe_over(ws, audio.load_pcm16(path), binary=True)
            return finals_text(frames)

    texts = await asyncio.gather(*(one(p) for p, _ in clips))
    refs = [r for _, r in KO_CLIPS]
    cers = []
    for (_, ref), text in zip(clips, texts):
        cers.append(corpus_cer([ref], [text]))
        # its own words: the text is nearest to its own clip's reference, not to another session's
        assert min(refs, key=lambda r: corpus_cer([r], [text])) == ref
    assert max(cers) <= 0.40 and sum(cers) / len(cers) <= 0.15


async def test_a_client_that_vanishes_leaves_no_session(server):
    pcm = audio.load_pcm16(KO_CLIPS[0][0])
    ws = await connect(server)
    await ws.send(json.dumps({"type": "start_transcription", "config": {"language": "ko"}}))
    for frame in list(audio.frames(pcm, 100))[:40]:
        await ws.send(frame)
    assert info(server)["sessions"]["active"] >= 1
    ws.transport.abort()  # the client vanishes: no closing handshake
    for _ in range(50):
        if info(server)["sessions"]["active"] == 0:
            break
        await asyncio.sleep(0.1)
    assert info(server)["sessions"] == {"active": 0, "connections": 0}


async def receive_until(ws, kind: str, timeout: float = 30) -> tuple[list[dict], dict]:
    seen = []
    while (frame := json.loads(await asyncio.wait_for(ws.recv(), timeout)))["type"] != kind:
        seen.append(frame)
    return seen, frame


async def test_a_flood_is_slowed_then_refused_and_the_connection_survives(tight_server):
    frame = bytes(640)  # 20 ms of silence
    async with connect(tight_server) as ws:
        await ws.send(json.dumps({"type": "start_transcription", "config": {"engine": "echo"}}))
        for _ in range(300):  # 6 s of audio at once, against 2x real time and 50 queued frames
            await ws.send(frame)
        await ws.send(json.dumps({"type": "stop_transcription"}))
        seen, summary = await receive_until(ws, "transcription_stopped")
        refused = [f for f in seen if f["type"] == "error"]
        assert refused and {f["code"] for f in refused} == {"RATE_LIMITED"} and refused[0]["retry_after"] > 0
        echoed = [f for f in seen if f["type"] == "transcript_final"]
        # what was accepted was transcribed; what was refused was said so, frame by frame
        assert len(echoed) + len(refused) == 300 and 0 < summary["audio_seconds"] < 6
        await ws.send(json.dumps({"type": "start_transcription", "config": {"engine": "echo"}}))
        await ws.send(frame)
        await ws.send(json.dumps({"type": "stop_transcription"}))
        _, summary = await receive_until(ws, "transcription_stopped")
        assert summary["audio_seconds"] == 0.02


async def test_session_limit_is_shared_by_all_connections(tight_server):
    start = json.dumps({"type": "start_transcription", "config": {"engine": "echo"}})
    async with connect(tight_server) as first, connect(tight_server) as second:
        await first.send(start)
        await first.send(bytes(640))
        await receive_until(first, "transcript_final")
        await second.send(start)
        reply = json.loads(await asyncio.wait_for(second.recv(), 10))
        assert reply["type"] == "error" and reply["code"] == "TOO_MANY_SESSIONS"
        await first.send(json.dumps({"type": "stop_transcription"}))
        await receive_until(first, "transcription_stopped")
        await second.send(start)  # the slot is free again
        await second.send(json.dumps({"type": "stop_transcription"}))
        _, summary = await receive_until(second, "transcription_stopped")
        assert summary["type"] == "transcription_stopped"


async def test_idle_connection_is_told_then_closed(tight_server):
    async with connect(tight_server) as ws:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert reply["type"] == "error" and reply["code"] == "IDLE_TIMEOUT"
        with pytest.raises(websockets.exceptions.ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
