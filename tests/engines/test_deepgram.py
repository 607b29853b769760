"""The deepgram engine end to end against serve-deepgram (real transcripts, real protocol), and faults."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import websockets

from stt_notebook import ConfigError, EngineError, Interim, Session, audio, engines
from tests.support import EN_CLIPS, KO_CLIPS, check_words, corpus_cer, corpus_wer, running
from tests.deepgram_servers import KEY





async def run(pcm: bytes, language: str, **options):
    session = Session(language, engine="deepgram", **options)
    events = []
    session.subscribe(events.append)
    return await session.run(pcm), events


async def test_korean_through_the_deepgram_protocol(deepgram_url, use_deepgram):
    use_deepgram(deepgram_url)
    path, ref = KO_CLIPS[7]
    t, events = await run(audio.load_pcm16(path), "ko")
    assert corpus_cer([ref], [t.text]) <= 0.15
    assert any(isinstance(e, Interim) for e in events) and not t.errors, (t.errors, [type(e).__name__ for e in events])
    check_words(events)


async def test_english_through_the_deepgram_protocol(deepgram_url, use_deepgram):
    use_deepgram(deepgram_url)
    path, ref = EN_CLIPS[3]
    t, events = await run(audio.load_pcm16(path), "en")
    assert corpus_wer([ref], [t.text]) <= 0.15
    assert all(w.punctuated for f in t.finals for w in f.words)  # punctuated_word survives the trip


async def test_finalize_flushes_and_the_stream_goes_on(deepgram_url, use_deepgram):
    use_deepgram(deepgram_url)
    path, ref = KO_CLIPS[7]
    pcm = audio.load_pcm16(path)
    half = len(pcm) // 4 * 2
    async with Session("ko", engine="deepgram") as session:
        await session.send(pcm[:half])
        await session.finalize()
        for _ in range(100):
            if any(f.from_finalize for f in session.transcript.finals):
                break
            await asyncio.sleep(0.1)
        assert any(f.from_finalize for f in session.transcript.finals)
        await session.send(pcm[half:])
    # CloseStream: the tail is never lost
    assert corpus_cer([ref], [session.transcript.text]) <= 0.2
    assert session.transcript.words["start"].is_monotonic_increasing


async def test_keepalive_holds_an_idle_stream_past_the_timeout(deepgram_url, use_deepgram):
    use_deepgram(deepgram_url)
    path, ref = KO_CLIPS[7]
    pcm = audio.load_pcm16(path)
    async with Session("ko", engine="deepgram") as session:
        await session.send(pcm[:3200])
        await asyncio.sleep(9)  # longer than the server's 6.5 s idle timeout: KeepAlive every 5 s
        await session.send(pcm[3200:])
    assert not session.transcript.errors
    assert corpus_cer([ref], [session.transcript.text]) <= 0.15


async def test_wrong_key_is_auth_error_without_the_key(deepgram_url, use_deepgram):
    use_deepgram(deepgram_url, key="not-the-key-0000")
    t, events = await run(audio.load_pcm16(KO_CLIPS[7][0]), "ko")
    assert t.errors and t.errors[0].code == "AUTH_ERROR"
    assert "not-the-key-0000" not in json.dumps([e.message for e in t.errors])
    assert "not-the-key-0000" not in repr(engines.get_engine("deepgram"))


def test_documented_rules_fail_locally(use_deepgram):
    use_deepgram("ws://127.0.0.1:9")  # nothing listens: the error must come before connecting
    from stt_notebook import transcribe

    with pytest.raises(ConfigError):
        transcribe(KO_CLIPS[7][0], engine="deepgram", keyterm=("x",), progress=False)


def test_rate_limit_with_retry_after_is_reported(use_deepgram):
    from stt_notebook import transcribe

    with running("busy") as url:
        use_deepgram(url)
        with pytest.raises(EngineError) as e:
            transcribe(KO_CLIPS[7][0], engine="deepgram", progress=False)
    assert e.value.code == "RATE_LIMITED" and e.value.transcript.errors[0].retry_after == 3.0


async def test_a_1011_mid_stream_reconnects_without_loss_or_duplicates(use_deepgram):
    import numpy as np

    a = audio.load_audio(KO_CLIPS[7][0])
    b = audio.load_audio(KO_CLIPS[4][0])
    pcm = audio.float_to_pcm16(np.concatenate([a, np.zeros(16000, np.float32), b]))
    with running("flaky") as url:
        use_deepgram(url)
        t, events = await run(pcm, "ko")
    assert not t.errors
    assert corpus_cer([KO_CLIPS[7][1] + KO_CLIPS[4][1]], [t.text]) <= 0.15  # nothing missing
    starts = list(t.words["start"])
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # no final duplicated
    assert abs(t.words["end"].max() - audio.duration(pcm)) < 2.5  # times continue across the reconnect (not from 0)


async def test_server_handshake_and_close_behaviour(deepgram_url):
    url = f"{deepgram_url}/v1/listen?encoding=linear16&sample_rate=16000&language=ko&model=nova-2"
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        await websockets.connect(url)
    assert e.value.response.status_code == 401 and e.value.response.headers["dg-request-id"]
    assert json.loads(e.value.response.headers["dg-error"])["err_code"] == "INVALID_AUTH"
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:
        await websockets.connect(url + "&keyterm=x", additional_headers={"Authorization": f"Token {KEY}"})
    assert e.value.response.status_code == 400
    # subprotocol auth (browsers) is echoed with the scheme word
    async with websockets.connect(url, subprotocols=["token", KEY]) as ws:
        assert ws.subprotocol == "token"
        request_id = ws.response.headers["dg-request-id"]
        await ws.send(audio.load_pcm16(KO_CLIPS[7][0]))
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages = [json.loads(m) async for m in ws]
        assert ws.close_code == 1000
    assert messages[-1]["type"] == "Metadata" and messages[-1]["request_id"] == request_id
    results = [m for m in messages if m["type"] == "Results" and m["is_final"]]
    assert results and all(r["metadata"]["request_id"] == request_id for r in results)
    # audio it cannot decode: 1008 DATA-0000
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {KEY}"}) as ws:
        await ws.send(b"\x01\x02\x03")
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd.code == 1008 and "DATA-0000" in closed.value.rcvd.reason


def test_cli_transcribes_through_deepgram_with_its_url(deepgram_url):
    import os

    path, ref = KO_CLIPS[4]
    env = {**os.environ, "DEEPGRAM_URL": deepgram_url, "DEEPGRAM_API_KEY": KEY}
    r = subprocess.run([sys.executable, "-m", "stt_notebook.cli", "transcribe", str(path), "--engine", "deepgram"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert corpus_cer([ref], [r.stdout]) <= 0.25
    bad = subprocess.run([sys.executable, "-m", "stt_notebook.cli", "transcribe", str(path), "--engine", "deepgram"],
                         capture_output=True, text=True, timeout=60, env={**env, "DEEPGRAM_API_KEY": "wrong-key-77"})
    assert bad.returncode != 0 and "[AUTH_ERROR]" in bad.stderr
    assert "wrong-key-77" not in bad.stderr + bad.stdout and "Traceback" not in bad.stderr
