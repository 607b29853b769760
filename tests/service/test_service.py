"""``stt-notebook serve``, run as an operator would: the seed's own commands, its JSON protocol,
a Deepgram client on /v1/listen, metrics after a session, and SIGTERM mid-stream."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import websockets
import websockets.exceptions

from stt_notebook import audio

from tests.support import KO_CLIPS, TOKEN, _free_port, corpus_cer, first_result, serving, wait_preloaded




@pytest.fixture(scope="module")
def service():
    with serving("--log-format", "json") as (port, proc):
        yield {"port": port, "http": f"http://127.0.0.1:{port}/", "ws": f"ws://127.0.0.1:{port}/ws/stt", "proc": proc}


def get(url: str, token: str | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_seeds_own_commands_work(service):
    assert get(service["http"] + "health") == (200, b'{"status":"ok"}')
    assert get(service["http"] + "info")[0] == 401
    status, body = get(service["http"] + "info", TOKEN)
    assert status == 200 and json.loads(body)["engine_names"] == ["vosk", "whisper", "echo"]
    listen = json.loads(body)["audio"]["v1/listen"]  # what a Deepgram client may send
    assert {"linear16", "mulaw", "opus"} <= set(listen["encodings"]) and "webm" in listen["containers"]
    assert get(service["http"] + "metrics")[0] == 401
    status, page = get(service["http"])
    assert status == 200 and b"static/page.js" in page


def test_the_service_loads_its_engines_at_start_unless_told_lazy():
    """An operator starts the service before anyone speaks: its first client should not wait for
    the models (~8 s to a first Korean word here). With no client at all, /info shows them loaded."""
    with serving() as (port, _):
        wait_preloaded(f"http://127.0.0.1:{port}/", TOKEN)
        preloaded = json.loads(get(f"http://127.0.0.1:{port}/info", TOKEN)[1])["preloaded"]
        assert preloaded == {"whisper:base": "loaded", "whisper:tiny.en": "loaded"}
    with serving("--lazy", "--engines", "vosk,echo") as (port, _):
        assert json.loads(get(f"http://127.0.0.1:{port}/info", TOKEN)[1])["preloaded"] == {}


async def test_the_seed_json_protocol_gets_korean_words_and_metrics_count_the_session(service):
    path, reference = KO_CLIPS[7]
    pcm = audio.load_pcm16(path)
    started = time.monotonic()
    async with websockets.connect(f"{service['ws']}?token={TOKEN}") as ws:
        await ws.send(json.dumps({"type": "start_transcription", "config": {"language": "ko"}}))
        for i, frame in enumerate(audio.frames(pcm, 100)):
            await ws.send(json.dumps({"type": "audio_data", "audio": base64.b64encode(frame).decode(), "chunk_id": i}))
        await ws.send("not json")  # a coded error, and the stream goes on
        await ws.send(json.dumps({"type": "stop_transcription"}))
        frames = []
        while (frame := json.loads(await asyncio.wait_for(ws.recv(), 120)))["type"] != "transcription_stopped":
            frames.append(frame)
    session_seconds = time.monotonic() - started
    heard = " ".join(f["text"] for f in frames if f["type"] == "transcript_final")
    assert corpus_cer([reference], [heard]) <= 0.15, heard
    assert [f["code"] for f in frames if f["type"] == "error"] == ["INVALID_JSON"]
    assert frame["audio_seconds"] == pytest.approx(audio.duration(pcm), abs=0.01)

    status, body = get(service["http"] + "metrics", TOKEN)
    metrics = {line.split(" ")[0]: float(line.split(" ")[1]) for line in body.decode().splitlines()
               if line and not line.startswith("#")}
    assert metrics['stt_audio_seconds_total{wire="ws/stt"}'] == pytest.approx(audio.duration(pcm), abs=0.01)
    assert metrics['stt_errors_total{code="INVALID_JSON",wire="ws/stt"}'] == 1
    assert metrics['stt_sessions_active{wire="ws/stt"}'] == 0
    assert metrics['stt_latency_seconds_count{wire="ws/stt"}'] >= 5
    # every word's latency lies within the session (all its audio was sent at once: the cold start counts)
    assert 0 < metrics['stt_latency_seconds_sum{wire="ws/stt"}'] / metrics['stt_latency_seconds_count{wire="ws/stt"}'] < session_seconds
    assert metrics['stt_first_result_seconds_count{wire="ws/stt"}'] == 1


async def test_a_wrong_token_or_a_foreign_page_is_refused(service):
    for url, headers in ((f"{service['ws']}?token=wrong", {}),
                         (f"{service['ws']}?token={TOKEN}", {"Origin": "https://evil.example"})):
        with pytest.raises(websockets.exceptions.InvalidStatus) as e:
            async with websockets.connect(url, additional_headers=headers):
                pass
        assert e.value.response.status_code == 403


async def test_a_deepgram_client_gets_the_same_words_from_v1_listen(service, use_deepgram):
    from stt_notebook import transcribe

    path, reference = KO_CLIPS[7]
    use_deepgram(f"ws://127.0.0.1:{service['port']}", TOKEN)  # and forgotten after: no later test meets this engine
    heard = await asyncio.to_thread(transcribe, path, "ko", engine="deepgram", progress=False)
    local = await asyncio.to_thread(transcribe, path, "ko", progress=False, punctuate=False, smart_format=False)
    assert corpus_cer([reference], [heard.text]) <= 0.15 and heard.text == local.text
    with pytest.raises(websockets.exceptions.InvalidStatus) as e:  # a language no engine knows: 400, no upgrade
        async with websockets.connect(f"ws://127.0.0.1:{service['port']}/v1/listen?language=xx",
                                      additional_headers={"Authorization": f"Token {TOKEN}"}):
            pass
    assert e.value.response.status_code == 400 and e.value.response.headers["dg-request-id"]


async def test_deepgrams_own_sdk_reads_v1_listen(service):
    """Deepgram's Python SDK, pointed at the service: its typed Results and Metadata, Korean words."""
    from deepgram import AsyncDeepgramClient
    from deepgram.environment import DeepgramClientEnvironment

    http, ws = f"http://127.0.0.1:{service['port']}", f"ws://127.0.0.1:{service['port']}"
    client = AsyncDeepgramClient(api_key=TOKEN, environment=DeepgramClientEnvironment(
        base=http, production=ws, agent=ws, agent_rest=http))
    path, reference = KO_CLIPS[7]
    got = []
    async with client.listen.v1.connect(model="nova-2", language="ko", encoding="linear16", sample_rate=16000,
                                        interim_results=True) as socket:
        async def receive() -> None:
            async for message in socket:
                got.append(message)

        receiving = asyncio.create_task(receive())
        for frame in audio.frames(audio.load_pcm16(path), 100):
            await socket.send_media(frame)
        await socket.send_close_stream()
        await asyncio.wait_for(receiving, 120)
    kinds = [type(m).__name__ for m in got]
    finals = [m for m in got if type(m).__name__ == "ListenV1Results" and m.is_final]
    heard = " ".join(m.channel.alternatives[0].transcript for m in finals)
    assert corpus_cer([reference], [heard]) <= 0.15, heard
    assert kinds[-1] == "ListenV1Metadata"  # sent faster than real time: finals (interims are for live pace)


async def test_deepgrams_sdk_changes_keyterms_mid_stream_with_configure(service):
    """SDK 7.17's send_configure, between two sentences: the second has a word tiny.en mishears
    ("flour", heard as "flower"), heard right only after the Configure; an over-long keyterm list
    gets Deepgram's ConfigureFailure and the stream goes on."""
    from deepgram import AsyncDeepgramClient
    from deepgram.environment import DeepgramClientEnvironment
    from deepgram.listen.v1.types import ListenV1Configure

    from tests.support import EN_CLIPS

    http, ws = f"http://127.0.0.1:{service['port']}", f"ws://127.0.0.1:{service['port']}"
    client = AsyncDeepgramClient(api_key=TOKEN, environment=DeepgramClientEnvironment(
        base=http, production=ws, agent=ws, agent_rest=http))
    pause = bytes(2 * 2 * audio.SAMPLE_RATE)  # 2 s of silence: each sentence is its own utterance
    first, flour = (audio.load_pcm16(next(p for p, _ in EN_CLIPS if p.name == name)) + pause
                    for name in ("1089-134686-0001.flac", "1089-134686-0000.flac"))  # "…flour-fattened sauce"

    async def stream(*configures: list[str]) -> list:
        got: list = []
        async with client.listen.v1.connect(model="nova-3", language="en", encoding="linear16", sample_rate=16000,
                                            punctuate="true") as socket:
            async def receive() -> None:
                async for message in socket:
                    got.append(message)

            receiving = asyncio.create_task(receive())
            for frame in audio.frames(first, 100):
                await socket.send_media(frame)
            while not any(type(m).__name__ == "ListenV1Results" and m.is_final for m in got):  # mid-stream
                await asyncio.sleep(0.05)
            for keyterms in configures:
                await socket.send_configure(ListenV1Configure(keyterms=keyterms))
            for frame in audio.frames(flour, 100):
                await socket.send_media(frame)
            await socket.send_close_stream()
            await asyncio.wait_for(receiving, 120)
        return got

    def heard(messages) -> list[str]:
        return " ".join(m.channel.alternatives[0].transcript for m in messages
                        if type(m).__name__ == "ListenV1Results" and m.is_final).lower().replace("-", " ").split()

    plain = await stream()
    configured = await stream(["flour"], ["word"] * 501)
    kinds = [type(m).__name__ for m in configured]
    assert kinds.count("ListenV1ConfigureSuccess") == 1 and kinds.count("ListenV1ConfigureFailure") == 1, kinds
    success = configured[kinds.index("ListenV1ConfigureSuccess")]
    failure = configured[kinds.index("ListenV1ConfigureFailure")]
    assert success.keyterms == ["flour"] and failure.code == "CONFIGURE_KEYTERM_LIMIT_EXCEEDED"
    assert "flower" in heard(plain) and "flour" not in heard(plain)
    assert "flour" in heard(configured) and kinds[-1] == "ListenV1Metadata"  # the stream went on


async def test_sigterm_mid_stream_finalizes_then_closes_1001_and_logs_the_session():
    path, reference = KO_CLIPS[7]
    pcm = audio.load_pcm16(path)[: 4 * 32000]
    with serving("--log-format", "json") as (port, proc):
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}") as ws:
            await ws.send(json.dumps({"type": "start_transcription", "config": {"language": "ko"}}))
            for frame in audio.frames(pcm, 100):
                await ws.send(frame)
            first = await first_result(ws)  # mid-stream: the engine has loaded and decodes
            os.kill(proc.pid, signal.SIGTERM)
            frames = [first] + [json.loads(m) async for m in ws]
            code = ws.close_code
        assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
        lines = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    heard = " ".join(f["text"] for f in frames if f["type"] == "transcript_final")
    assert heard and corpus_cer([reference[: len(reference) // 2]], [heard]) <= 0.5, frames
    assert frames[-1]["type"] == "transcription_stopped" and code == 1001
    sessions = [line for line in lines if line.get("event") == "session"]
    assert len(sessions) == 1 and sessions[0]["wire"] == "ws/stt" and sessions[0]["audio_seconds"] == 4.0
    assert sessions[0]["finals"] >= 1 and sessions[0]["latency_p50"] is not None and sessions[0]["engine"] == "whisper"
    assert sessions[0]["close_code"] == 1001
    assert TOKEN not in json.dumps(lines) and all("level" in line or "event" in line for line in lines)


async def test_two_workers_share_one_port_and_clients_choose_models_by_name():
    from stt_notebook.engines.vosk import VoskEngine

    path, reference = KO_CLIPS[7]
    pcm = audio.load_pcm16(path)

    async def transcribe(port: int, model: str) -> tuple[str, list[str]]:
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}") as ws:
            await ws.send(json.dumps({"type": "start_transcription",
                                      "config": {"language": "ko", "engine": "vosk", "model": model}}))
            for frame in audio.frames(pcm, 100):
                await ws.send(frame)
            await ws.send(json.dumps({"type": "stop_transcription"}))
            errors = []
            while (frame := json.loads(await asyncio.wait_for(ws.recv(), 120)))["type"] != "transcription_stopped":
                errors += [frame["code"]] if frame["type"] == "error" else []
            return frame["text"], errors

    async def stall(pid: int) -> None:
        """A worker that cannot answer for 8 s, as on a busy machine while a C extension holds the GIL."""
        await asyncio.sleep(1)
        os.kill(pid, signal.SIGSTOP)
        await asyncio.sleep(8)
        with contextlib.suppress(ProcessLookupError):  # killed as hung
            os.kill(pid, signal.SIGCONT)

    with serving("--workers", "2", "--model", f"mine={VoskEngine().model_path('ko')}") as (port, proc):
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        workers = [int(c) for c in children if b"resource_tracker" not in Path(f"/proc/{c}/cmdline").read_bytes()]
        heard = await asyncio.gather(transcribe(port, "mine"), transcribe(port, "ko"), stall(workers[0]))
        refused = await transcribe(port, "/etc")  # a path is never a model name
        proc.terminate()
        log = proc.stderr.read()
    assert all(corpus_cer([reference], [text]) <= 0.15 and not errors for text, errors in heard[:2]), (heard, log)
    assert refused[1] and refused[1][0] == "INVALID_CONFIG"
    assert "died" not in log, log


def test_binding_beyond_loopback_needs_a_token():
    done = subprocess.run([sys.executable, "-m", "stt_notebook.cli", "serve", "--host", "0.0.0.0"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "STT_NOTEBOOK_TOKEN": ""})
    assert done.returncode != 0 and "--token" in done.stderr and "Traceback" not in done.stderr


# -- the page at / in a real browser --

def _page_test(service, wav, token: str, allow_microphone: bool = True):
    from tests.support import chromium_page

    return chromium_page(wav, allow_microphone=allow_microphone), service["http"] + f"?token={token}"


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="needs Chromium (.ci/run installs it)")
def test_the_page_shows_korean_words_spoken_into_the_microphone(service, tmp_path):
    from tests.support import fake_microphone_wav, save_screenshot, speak_and_read

    clip, reference = KO_CLIPS[7]
    browser, url = _page_test(service, fake_microphone_wav(clip, tmp_path / "mic.wav"), TOKEN)
    with browser as page:
        page.goto(url)
        shown = speak_and_read(page, clip)
        timeline = page.get_by_role("img", name="Confidence timeline").is_visible()
        save_screenshot(page, "service_page.png")
        with page.expect_download() as text:
            page.get_by_role("button", name="text").click()
        with page.expect_download() as srt:
            page.get_by_role("button", name="SRT").click()
        page.reload()  # what was heard is still there
        kept = page.get_by_role("log").filter(has_text=re.compile(r"\S")).inner_text(timeout=10_000)
        page.get_by_label("Language").select_option("en")  # the next recording's language
        status = page.get_by_role("status").filter(has_text="· en ·").inner_text(timeout=5_000)
        downloaded = Path(text.value.path()).read_text(encoding="utf-8")
        subtitles = Path(srt.value.path()).read_text(encoding="utf-8")
    assert corpus_cer([reference], [shown]) <= 0.20, shown
    assert timeline
    assert _squash(kept) == _squash(shown) == _squash(downloaded)
    assert subtitles.startswith("1\n00:00:0") and " --> " in subtitles and _squash(downloaded) == _squash(
        "".join(line for line in subtitles.splitlines() if not re.match(r"^(\d+|[\d:,]+ --> [\d:,]+)?$", line)))
    assert "· en ·" in status


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="needs Chromium (.ci/run installs it)")
def test_the_page_can_send_opus_and_gets_the_same_words(service, tmp_path):
    from tests.support import fake_microphone_wav, speak_and_read

    clip, reference = KO_CLIPS[7]
    browser, url = _page_test(service, fake_microphone_wav(clip, tmp_path / "mic.wav"), TOKEN)
    with browser as page:
        page.goto(url + "&transport=opus")
        assert page.get_by_label("Transport").input_value() == "opus"
        shown = speak_and_read(page, clip)
        sent = page.evaluate("() => Math.max(...[...globalThis.__sttNotebook.values()].map((s) => s.sentBytes))")
    assert corpus_cer([reference], [shown]) <= 0.20, shown
    assert 0 < sent < audio.duration(audio.load_pcm16(clip)) * 32000 / 4  # well under PCM16's bytes for the clip alone


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", re.sub(r"(?m)^\s*\d+\.\ds", "", text))  # without the lines' times


@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="needs Chromium (.ci/run installs it)")
def test_the_page_says_when_the_token_or_the_microphone_is_refused(service, tmp_path):
    from tests.support import fake_microphone_wav, save_screenshot

    wav = fake_microphone_wav(KO_CLIPS[7][0], tmp_path / "mic.wav")
    browser, url = _page_test(service, wav, "wrong")
    with browser as page:
        page.goto(url)
        page.get_by_label("Token").wait_for(timeout=30_000)  # the login form shows itself
        assert "refused" in page.get_by_role("form", name="Log in").inner_text()
        page.get_by_role("button", name="Start recording").click()
        page.get_by_role("alert").filter(has_text="refused the connection").first.wait_for(timeout=30_000)
        save_screenshot(page, "service_page_token_refused.png")
        page.get_by_label("Token").fill("still-wrong")  # checked when given, not at the next Start
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("form", name="Log in").filter(has_text="That token was refused.").wait_for(timeout=10_000)
        page.get_by_label("Token").fill(TOKEN)
        page.get_by_role("button", name="Log in").click()
        page.get_by_role("form", name="Log in").wait_for(state="hidden", timeout=10_000)
        page.get_by_role("button", name="Start recording").click()
        page.get_by_role("button", name="Stop recording").wait_for(timeout=10_000)
        page.get_by_role("status").filter(has_text="recording").wait_for(timeout=30_000)
        stale = page.locator(".stt-errors").inner_text()  # the refusal is history once a recording runs
        page.get_by_role("button", name="Stop recording").click()
    assert "AUTH_ERROR" not in stale, stale
    browser, url = _page_test(service, wav, TOKEN, allow_microphone=False)
    with browser as page:
        page.goto(url)
        page.get_by_role("button", name="Start recording").click(timeout=30_000)
        page.get_by_role("alert").filter(has_text="permission was denied").wait_for(timeout=30_000)
    browser, url = _page_test(service, wav, TOKEN)
    with browser as page:  # the server refuses the start: the page says so and does not stay recording
        page.goto(url + "&engine=nope")
        page.get_by_role("button", name="Start recording").click(timeout=30_000)
        page.get_by_role("alert").filter(has_text="nope").first.wait_for(timeout=30_000)
        page.get_by_role("button", name="Start recording").wait_for(timeout=10_000)


# -- scale-out: two instances behind nginx --

NGINX_MAIN = """worker_processes 1;
error_log {dir}/error.log;
pid {dir}/nginx.pid;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    include {dir}/stt-notebook.conf;
}}
"""


async def _stream_through(url: str, size: int, frames: int, stop_after: asyncio.Event, more: int,
                          sent: asyncio.Event) -> dict:
    """One echo stream: ``frames`` frames of ``size`` bytes (then ``sent`` is set); once
    ``stop_after`` is set, ``more`` and a stop if it is still open. Returns what it was told and
    how it was closed."""
    got: list[dict] = []
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "start_transcription", "config": {"engine": "echo"}}))
        for _ in range(frames):
            await ws.send(bytes(size))
        sent.set()
        await stop_after.wait()
        with contextlib.suppress(websockets.exceptions.ConnectionClosed):
            for _ in range(more):
                await ws.send(bytes(size))
            await ws.send(json.dumps({"type": "stop_transcription"}))
        with contextlib.suppress(websockets.exceptions.ConnectionClosed, asyncio.TimeoutError):
            while not got or got[-1]["type"] != "transcription_stopped":
                got.append(json.loads(await asyncio.wait_for(ws.recv(), 60)))
            await asyncio.wait_for(ws.recv(), 2)  # a drained stream is closed next; a served one stays open
        return {"size": size, "frames": got, "code": ws.close_code}


@pytest.mark.skipif(not __import__("shutil").which("nginx"), reason="needs nginx (.ci/run installs it)")
def test_two_instances_behind_nginx(tmp_path):
    """The deploy/ recipe: 20 streams spread over both instances, each gets its own words; SIGTERM
    to one drains its streams (finals, summary, 1001) while the other's streams carry on."""
    recipe = (Path(__file__).parents[2] / "deploy" / "nginx-stt-notebook.conf").read_text()
    with serving("--engines", "echo") as (a, proc_a), serving("--engines", "echo") as (b, _):  # transport only
        port = _free_port()
        (tmp_path / "stt-notebook.conf").write_text(
            recipe.replace("127.0.0.1:8001", f"127.0.0.1:{a}").replace("127.0.0.1:8002", f"127.0.0.1:{b}")
            .replace("listen 8000;", f"listen 127.0.0.1:{port};"))
        (tmp_path / "nginx.conf").write_text(NGINX_MAIN.format(dir=tmp_path))
        nginx = subprocess.Popen(["nginx", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"])
        try:
            for _ in range(100):
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
                time.sleep(0.1)
            assert get(f"http://127.0.0.1:{port}/health") == (200, b'{"status":"ok"}')

            async def scenario():
                stop_after = asyncio.Event()
                url = f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}"
                sent = [asyncio.Event() for _ in range(20)]
                streams = [asyncio.create_task(_stream_through(url, 320 * (i + 1), 5, stop_after, 5, sent[i]))
                           for i in range(20)]
                await asyncio.wait_for(asyncio.gather(*(s.wait() for s in sent)), 60)  # every stream sent its first five
                await asyncio.sleep(0.5)  # and they reached the instances
                proc_a.send_signal(signal.SIGTERM)
                await asyncio.sleep(1.0)
                stop_after.set()
                return await asyncio.gather(*streams)

            results = asyncio.run(scenario())
        finally:
            nginx.terminate()
            nginx.wait(10)
    drained = [r for r in results if r["code"] == 1001]
    served = [r for r in results if r["code"] != 1001]
    assert 1 <= len(drained) <= 19, [r["code"] for r in results]  # both instances took streams
    for r in results:
        finals = [f["text"] for f in r["frames"] if f["type"] == "transcript_final"]
        assert finals and set(finals) == {f"{r['size']} bytes"}  # its own words, nobody else's
        assert r["frames"][-1]["type"] == "transcription_stopped"
        assert len(finals) == (5 if r in drained else 10), (r["code"], len(finals))
    assert all(r["code"] is None for r in served)


async def test_the_operators_flags_reach_the_connections_of_the_serve_process():
    """`serve --idle-timeout 1 --max-queued-frames 3` as an operator types it (the flags are made from
    the one list of settings the Jupyter relay's traitlets come from): /info reports them, and a
    silent /ws/stt client is told IDLE_TIMEOUT after a second and closed 1000."""
    with serving("--engines", "echo", "--idle-timeout", "1", "--max-queued-frames", "3") as (port, _):
        limits = json.loads(get(f"http://127.0.0.1:{port}/info", TOKEN)[1])["limits"]
        assert limits["idle_timeout"] == 1.0 and limits["max_queued_frames"] == 3
        async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}") as ws:
            said = json.loads(await asyncio.wait_for(ws.recv(), 10))
            with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
        assert said["type"] == "error" and said["code"] == "IDLE_TIMEOUT" and "1 s" in said["message"]
        assert ws.close_code == 1000
