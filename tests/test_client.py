"""stt_notebook.client and `stt-notebook stream`, against a real Jupyter server."""

import subprocess
import sys

import pytest

from stt_notebook import STTError
from stt_notebook.client import RelayClient, relay_url

from tests.support import KO_CLIPS, TOKEN, corpus_cer


def test_relay_url_from_a_server_url():
    assert relay_url("http://127.0.0.1:8888/") == "ws://127.0.0.1:8888/ws/stt"
    assert relay_url("https://hub.example/user/ann/") == "wss://hub.example/user/ann/ws/stt"
    assert relay_url("localhost:8888/jp") == "ws://localhost:8888/jp/ws/stt"


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "base64"])
async def test_client_transcript_matches_the_speech(server, binary):
    path, ref = KO_CLIPS[7]
    async with RelayClient(server["http"], TOKEN, binary=binary) as relay:
        seen = []
        t = await relay.transcribe(path, realtime=False, on_event=seen.append, language="ko")
    assert corpus_cer([ref], [t.text]) <= 0.15
    assert len(t.words) > 5 and t.source == path.name and seen == t.events


async def test_wrong_token_is_a_clear_error(server):
    with pytest.raises(STTError) as e:
        async with RelayClient(server["http"], "not-the-token"):
            pass
    assert e.value.code == "AUTH_ERROR" and "token" in str(e.value)


def test_stream_command_prints_finals(server):
    path, ref = KO_CLIPS[4]
    r = subprocess.run([sys.executable, "-m", "stt_notebook.cli", "stream", str(path), "--url", server["http"],
                        "--token", TOKEN, "--binary", "--full-speed"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert lines and all(l.startswith("[") for l in lines)
    assert corpus_cer([ref], [" ".join(l.split("] ", 1)[1] for l in lines)]) <= 0.25
    bad = subprocess.run([sys.executable, "-m", "stt_notebook.cli", "stream", str(path), "--url", server["http"],
                          "--token", "wrong"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "[AUTH_ERROR]" in bad.stderr and "Traceback" not in bad.stderr
