"""SIGTERM mid-stream: the audio a client already sent yields its finals, then the server closes
1001 — on the Jupyter relay (/ws/stt) and on serve-deepgram (/v1/listen)."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import websockets

from stt_notebook import audio

from tests.support import KO_CLIPS, TOKEN, corpus_cer, first_result, run_jupyter_server, serve_deepgram

SPOKEN = 4.0  # seconds of the clip sent before the server is told to stop
DRAIN = 30.0  # the drain's bound: ample, so a busy machine (other tests beside) still finishes its finals


def clip() -> tuple[bytes, str]:
    path, reference = KO_CLIPS[7]
    return audio.load_pcm16(path)[: int(SPOKEN * audio.SAMPLE_RATE) * 2], reference


async def test_sigterm_drains_relay_streams_with_finals_then_1001(tmp_path):
    pcm, reference = clip()
    with run_jupyter_server(tmp_path, {"drain_timeout": DRAIN}) as server:
        async with websockets.connect(server["ws"], additional_headers={"Authorization": f"token {TOKEN}"}) as ws:
            await ws.send(json.dumps({"type": "start_transcription", "config": {"language": "ko"}}))
            for frame in audio.frames(pcm, 100):
                await ws.send(frame)
            first = await first_result(ws)
            os.kill(server["pid"], signal.SIGTERM)  # no stop_transcription: the server is going away
            frames = [first] + [json.loads(m) async for m in ws]
            code = ws.close_code
    heard = " ".join(f["text"] for f in frames if f["type"] == "transcript_final")
    assert heard and corpus_cer([reference[: len(reference) // 2]], [heard]) <= 0.5, (frames, code)  # the first half
    assert frames[-1]["type"] == "transcription_stopped" and code == 1001


async def test_sigterm_drains_serve_deepgram_streams_with_finals_then_1001():
    pcm, reference = clip()
    proc, url = serve_deepgram({}, "--drain-timeout", str(DRAIN))
    try:
        query = "language=ko&encoding=linear16&sample_rate=16000&interim_results=true"  # a first result while it runs
        async with websockets.connect(f"{url}/v1/listen?{query}") as ws:
            for frame in audio.frames(pcm, 100):  # at a microphone's pace: results come while it speaks
                await ws.send(frame)
                await asyncio.sleep(0.1)
            first = await first_result(ws, keep_alive=json.dumps({"type": "KeepAlive"}))
            proc.send_signal(signal.SIGTERM)
            messages = [first] + [json.loads(m) async for m in ws]
            code = ws.close_code
        proc.wait(DRAIN + 30)
    finally:
        if proc.poll() is None:
            proc.kill()
    heard = " ".join(m["channel"]["alternatives"][0]["transcript"] for m in messages
                     if m["type"] == "Results" and m["is_final"])
    assert heard and corpus_cer([reference[: len(reference) // 2]], [heard]) <= 0.5, heard
    assert messages[-1]["type"] == "Metadata" and code == 1001


async def test_sigterm_while_the_relay_still_loads_the_model_ends_with_finals_or_a_coded_close(tmp_path):
    """SIGTERM one second after the audio, before any result (the model is still loading): the
    stream gets its finals, or SHUTTING_DOWN, then 1001; never a connection that just drops."""
    pcm, reference = clip()
    with run_jupyter_server(tmp_path, {}) as server:
        async with websockets.connect(server["ws"], additional_headers={"Authorization": f"token {TOKEN}"}) as ws:
            await ws.send(json.dumps({"type": "start_transcription", "config": {"language": "ko"}}))
            for frame in audio.frames(pcm, 100):
                await ws.send(frame)
            await asyncio.sleep(1)
            os.kill(server["pid"], signal.SIGTERM)
            frames = [json.loads(m) async for m in ws]
            code = ws.close_code
    heard = " ".join(f["text"] for f in frames if f["type"] == "transcript_final")
    errors = [f["code"] for f in frames if f["type"] == "error"]
    assert code == 1001 and ((heard and frames[-1]["type"] == "transcription_stopped") or errors == ["SHUTTING_DOWN"]), frames
