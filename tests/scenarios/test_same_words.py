"""The same finals whichever way the audio arrives: the file path, ``transcribe --realtime``, the
widget, ``/ws/stt`` in a real Jupyter server and ``/v1/listen`` on a real ``serve``, for Korean
(Whisper base, the default) and Japanese (a language only Whisper base knows here)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.parse

import pytest
import websockets

from stt_notebook import LiveTranscriber, audio, transcribe

from tests.support import DATA, KO_CLIPS, TOKEN, connect, corpus_cer, Page, serving, speak, transcribe_over, wait_until

JAPANESE = "今日はとても良い天気ですね。明日は東京で友達に会います。"
CLIPS = {"ko": KO_CLIPS[7], "ja": (DATA / "tts" / "ja.flac", JAPANESE)}


@pytest.fixture(scope="module")
def listen_port():
    with serving("--lazy") as (port, _):
        yield port


async def over_listen(port: int, pcm: bytes, language: str) -> list[str]:
    """Deepgram's wire as its browser and SDK clients use it: raw PCM16, the finals' transcripts."""
    query = urllib.parse.urlencode({"language": language, "encoding": "linear16", "sample_rate": 16000,
                                    "punctuate": "true", "smart_format": "true"})
    finals = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/v1/listen?{query}",
                                  additional_headers={"Authorization": f"Token {TOKEN}"}) as ws:
        for frame in audio.frames(pcm, 100):
            await ws.send(frame)
        await ws.send(json.dumps({"type": "CloseStream"}))
        async for message in ws:
            m = json.loads(message)
            if m.get("type") == "Results" and m["is_final"] and m["channel"]["alternatives"][0]["transcript"]:
                finals.append(m["channel"]["alternatives"][0]["transcript"])
    return finals


@pytest.mark.parametrize("language", ["ko", "ja"])
async def test_every_way_in_gives_the_same_finals(language, server, listen_port):
    path, reference = CLIPS[language]
    pcm = audio.load_pcm16(path)
    whole = transcribe(path, language, progress=False)
    finals = [f.text for f in whole.finals if f.text]
    assert whole.engine == "whisper" and set(whole.utterances.language) == {language}
    assert corpus_cer([reference], ["".join(finals)]) <= 0.15, finals

    cli = subprocess.run([sys.executable, "-m", "stt_notebook.cli", "transcribe", str(path), "-l", language,
                          "--realtime", "--no-progress", "-f", "jsonl"], capture_output=True, text=True, timeout=120)
    lines = [json.loads(line) for line in cli.stdout.splitlines()]
    assert [f["text"] for f in lines if f["type"] == "transcript_final" and f["text"]] == finals, cli.stderr

    w = LiveTranscriber(language=language)
    Page(w)
    await asyncio.to_thread(speak, w, pcm, realtime_factor=2.0)
    await asyncio.to_thread(wait_until, lambda: w.status == "idle" and not w.recording)
    assert [f.text for f in w.transcript.finals if f.text] == finals

    async with connect(server) as ws:
        frames, _ = await transcribe_over(ws, pcm, binary=True, start={"language": language})
    assert [f["text"] for f in frames if f["type"] == "transcript_final" and f["text"]] == finals

    assert await over_listen(listen_port, pcm, language) == finals
