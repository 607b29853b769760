"""What the tests and the benchmarks share: the speech clips and their references, how to score
them, and how to start what a user starts (a Jupyter server, ``serve``, Deepgram's stand-in, a
browser with a fake microphone) and talk to it. Fixtures are in ``conftest.py``."""

from __future__ import annotations

import asyncio
import base64
import io
import random
import contextlib
import difflib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import av
import numpy as np
import soundfile as sf
import websockets

from stt_notebook import audio

if TYPE_CHECKING:
    from stt_notebook import LiveTranscriber

DATA = Path(__file__).parent / "data"


def _clips(lang: str) -> list[tuple[Path, str]]:
    rows = (line.rstrip("\n").split("\t") for line in (DATA / lang / "transcripts.tsv").read_text("utf-8").splitlines())
    return [(DATA / lang / name, ref) for name, ref in rows]


KO_CLIPS = _clips("ko")
EN_CLIPS = _clips("en")
PAUSE_CLIPS = _clips("en_pauses")


def with_pauses(clips: list[tuple[Path, str]], pause: float = 1.5, tail: float = 2.0) -> tuple[bytes, str]:
    """Clips joined by ``pause`` seconds of silence, and ``tail`` seconds after the last: speech as a
    person dictates it, in phrases. Returns PCM16 16 kHz and the joined reference."""
    from stt_notebook import audio

    silence = bytes(int(pause * audio.SAMPLE_RATE) * 2)
    pcm = silence.join(audio.load_pcm16(path) for path, _ in clips) + bytes(int(tail * audio.SAMPLE_RATE) * 2)
    return pcm, " ".join(ref for _, ref in clips)


def pause_spans(clips: list[tuple[Path, str]], pause: float = 1.5) -> list[tuple[float, float]]:
    """Where each clip's speech lies in :func:`with_pauses`' audio (seconds)."""
    from stt_notebook import audio

    spans, t = [], 0.0
    for path, _ in clips:
        d = audio.duration(audio.load_pcm16(path))
        spans.append((t, t + d))
        t += d + pause
    return spans


def whole_file_beam5(pcm: bytes) -> str:
    """The bar for streamed English: the packaged tiny.en as faster-whisper reads it (the encoder sees
    all 30 s of every window, unlike the engine's), decoding the whole file at once with beam 5."""
    from faster_whisper import WhisperModel

    from stt_notebook import audio
    from stt_notebook.engines.models import WHISPER_PACKAGES, resolve

    model = WhisperModel(str(resolve(None, WHISPER_PACKAGES, "tiny.en", "whisper")), device="cpu", compute_type="int8")
    segments, _ = model.transcribe(audio.pcm16_to_float(pcm), language="en", beam_size=5, vad_filter=True)
    return " ".join(s.text for s in segments)


def squash_ko(text: str) -> str:
    """Korean scoring form: numerals read aloud (the references write 이천 십 팔 년 for 2018년), no
    whitespace, no punctuation (Zeroth spacing is irregular)."""
    from stt_notebook.text.korean import sino_korean

    return re.sub(r"[\s\W_]+", "", re.sub(r"\d+", lambda m: sino_korean(int(m.group())), text))


_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
         "sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SPOKEN = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def number_words(n: int) -> str:
    """10 → ten, 1961 → one thousand nine hundred sixty one: digits as a reference spells them."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            return f"{number_words(n // size)} {name}" + ("" if n % size == 0 else " " + number_words(n % size))
    return str(n)


def normalise_en(text: str) -> str:
    """English scoring form, as Whisper's own normaliser scores: lower case, no punctuation, the
    written forms a smart-formatted transcript uses read as the reference spells them (10 → ten,
    Mr. → mister), so a right word written differently is not an error."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower().replace("-", " "))
    words = re.sub(r"[^a-z0-9' ]+", " ", text).split()
    return " ".join(number_words(int(w)) if w.isdigit() and len(w) < 10 else _SPOKEN.get(w, w) for w in words)


def corpus_cer(refs: list[str], hyps: list[str]) -> float:
    import jiwer

    return jiwer.cer([squash_ko(r) for r in refs], [squash_ko(h) for h in hyps])


def corpus_wer(refs: list[str], hyps: list[str]) -> float:
    import jiwer

    return jiwer.wer([normalise_en(r) for r in refs], [normalise_en(h) for h in hyps])


def auroc(scores: list[float], right: list[bool]) -> float:
    """How well confidence tells right words from wrong: Mann-Whitney U / (n_right * n_wrong), ties counted half."""
    s, r = np.asarray(scores, float), np.asarray(right, bool)
    pos, neg = s[r], s[~r]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def korean_right(words: list[str], reference: str) -> list[bool]:
    """Each word right or wrong against the reference: aligned by characters (spaces and punctuation
    removed), a word is right when all its characters align to equal ones."""
    hyp = [squash_ko(w) for w in words]
    chars, owner = "".join(hyp), [k for k, w in enumerate(hyp) for _ in w]
    ok = np.zeros(len(chars), bool)
    for block in difflib.SequenceMatcher(None, chars, squash_ko(reference), autojunk=False).get_matching_blocks():
        ok[block.a:block.a + block.size] = True
    return [bool(ok[[i for i, o in enumerate(owner) if o == k]].all()) if hyp[k] else False for k in range(len(hyp))]


def english_right(words: list[str], reference: str) -> list[bool]:
    """Each word right or wrong against the reference, aligned by normalised words."""
    hyp = [normalise_en(w) for w in words]
    ok = [False] * len(hyp)
    for block in difflib.SequenceMatcher(None, hyp, normalise_en(reference).split(), autojunk=False).get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            ok[i] = True
    return ok




async def stream_events(pcm: bytes, language: str, engine: str = "auto", *, frame_ms: int = 100,
                        realtime: bool = False, **options):
    """Run a Session over PCM16 and return (transcript, events in order)."""
    from stt_notebook import Session

    session = Session(language, engine=engine, **options)
    events = []
    session.subscribe(events.append)
    transcript = await session.run(pcm, realtime=realtime, frame_ms=frame_ms)
    return transcript, events


def check_words(events) -> None:
    """Every final's words are well-formed: start <= end, confidence within [0, 1], in time order."""
    from stt_notebook import Final

    finals = [e for e in events if isinstance(e, Final) and e.text]  # an empty final only closes an utterance
    assert finals
    for f in finals:
        assert f.words
        for w in f.words:
            assert 0 <= w.start <= w.end and 0.0 <= w.confidence <= 1.0
        assert f.start <= f.words[0].start and f.words[-1].end <= f.end + 1e-6


TOKEN = "stt-test-token"
SECRET = "dg-secret-that-never-leaves-the-server"
BASE = "/jp/"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def run_jupyter_server(workdir: Path, relay_config: dict, env: dict | None = None):
    """A real `jupyter server` process (JupyterLab and Notebook 7 included) with the extension loaded
    by install, under a base URL. Its log goes to ``workdir/server.log``."""
    port = _free_port()
    root = workdir / "root"
    root.mkdir()
    config = workdir / "jupyter_server_config.json"
    config.write_text(json.dumps({"STTRelay": relay_config}))
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("DEEPGRAM_")}, **(env or {})}
    log = open(workdir / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.base_url={BASE}", f"--ServerApp.root_dir={root}",
         f"--config={config}"],
        env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}{BASE}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(url + "stt/health", timeout=1)
                break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError((workdir / "server.log").read_text())
                time.sleep(0.2)
        yield {"port": port, "http": url, "ws": f"ws://127.0.0.1:{port}{BASE}ws/stt", "root": root, "pid": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(40)  # a drain takes at most its drain_timeout
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()




# -- a browser (Debian's Chromium, driven by Playwright) with a fake microphone --
CHROMIUM = os.environ.get("STT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("STT_ARTIFACTS", Path(__file__).parent.parent / "artifacts"))
FAKE_MIC_RATE = 48000


def fake_microphone_wav(clips: Path | list[Path], out: Path, lead: float = 1.0, tail: float = 3.0,
                        pause: float = 1.0, gain_db: float = 0.0) -> Path:
    """``clips`` (one or several, ``pause`` seconds apart) padded with silence, ``gain_db`` louder or
    quieter: the fake device starts playing when capture starts."""
    assert "%" not in str(out), "Chromium splits the fake-capture switch on '%'"
    import soxr

    def silence(seconds: float) -> np.ndarray:
        return np.zeros(int(FAKE_MIC_RATE * seconds), dtype=np.float32)

    parts = [silence(lead)]
    for clip in clips if isinstance(clips, list) else [clips]:
        parts += [soxr.resample(audio.load_audio(clip), audio.SAMPLE_RATE, FAKE_MIC_RATE), silence(pause)]
    parts[-1] = silence(tail)
    sf.write(out, np.concatenate(parts) * 10 ** (gain_db / 20), FAKE_MIC_RATE, subtype="PCM_16")
    return out


def speak_and_read(page, clip: Path) -> str:
    """Click Start, let the fake microphone play ``clip`` (1 s before it, 1.5 s after), click Stop
    and wait until idle: the transcript's lines as the page shows them, without their times."""
    page.get_by_role("button", name="Start recording").click(timeout=90_000)
    page.get_by_role("button", name="Stop recording").wait_for(timeout=10_000)
    page.get_by_role("log").filter(has_text=re.compile(r"\S")).wait_for(timeout=60_000)  # interims form while it plays
    time.sleep(max(0.0, 1.0 + audio.duration(audio.load_pcm16(clip)) + 1.5 - 5))
    page.get_by_role("button", name="Stop recording").click()
    page.get_by_role("status").filter(has_text="idle").wait_for(timeout=60_000)
    return re.sub(r"\b\d+\.\ds\b", "", page.get_by_role("log").inner_text())


def write_notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)
    return path


@contextlib.contextmanager
def chromium_page(microphone_wav: Path, allow_microphone: bool = True) -> Iterator["object"]:
    """A headless Chromium page whose microphone plays ``microphone_wav`` once. Without
    ``allow_microphone`` the permission prompt is answered "Block", as a wary user would."""
    from playwright.sync_api import sync_playwright

    args = ["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={microphone_wav}%noloop",
            "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    if allow_microphone:
        args.append("--use-fake-ui-for-media-stream")  # the permission prompt is accepted
    if os.geteuid() == 0:
        args.append("--no-sandbox")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ko-KR").new_page()
            yield page
        finally:
            browser.close()


def open_notebook(page, server: dict, name: str, ui: str = "lab") -> None:
    """Open ``name`` in JupyterLab (``ui="lab"``, a fresh workspace) or Notebook 7 (``ui="notebook"``)."""
    token = server["token"]
    # a new workspace each time: one reused across servers can remember a kernel that is gone
    # and ask "Select Kernel" instead of starting one
    path = f"lab/workspaces/stt-{uuid.uuid4().hex[:12]}/tree/{name}?reset&token={token}" if ui == "lab" \
        else f"notebooks/{name}?token={token}"
    page.goto(server["http"] + path)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=90_000)


def run_cell(page, index: int, attempts: int = 6) -> None:
    """Run a cell as a person does: click into it, Shift+Enter. A page still starting up can
    swallow the key press, so it is pressed again until the prompt shows the cell queued or run."""
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    for _ in range(attempts):
        if (dialog := page.locator(".jp-Dialog")).count():
            text = dialog.first.inner_text()
            if "Select Kernel" not in text:
                raise AssertionError(f"JupyterLab shows a dialog: {text!r}")
            dialog.locator("button.jp-mod-accept").click()  # Python 3, as a person would
            continue
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        try:
            prompt.filter(has_text=re.compile(r"\[(\*|\d+)\]")).wait_for(timeout=5_000)
            return
        except Exception:  # playwright's TimeoutError: press again
            continue
    raise AssertionError(f"cell {index} never started running")


def cell_json(page, index: int, timeout: float = 60_000) -> dict:
    """The JSON a cell printed."""
    output = page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output")
    output.filter(has_text="{").first.wait_for(timeout=timeout)
    return json.loads(output.first.inner_text())


def save_screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path


# -- talking to what the tests start --
def from_page(w: LiveTranscriber, content: dict, buffers: list[bytes] = ()) -> None:
    """A page message as the kernel hands it over, then a wait until the widget's loop has taken it
    (``on_msg`` only enqueues: without the wait, a test that checks the status right after a burst
    of messages may look before "start" was handled, as happened on a slower CI machine)."""
    w._handle_msg({"content": {"data": {"method": "custom", "content": content}},
                   "buffers": [memoryview(b) for b in buffers]})
    w._in_loop(lambda: None)


# -- from test_server --
def connect(server, **kw):
    headers = kw.pop("headers", {"Authorization": f"token {TOKEN}"})
    return websockets.connect(server["ws"], additional_headers=headers, max_size=None, **kw)


async def transcribe_over(ws, pcm: bytes, binary: bool, start: dict | None = None) -> tuple[list[dict], dict]:
    """Send a clip, stop, and collect frames up to the closing summary."""
    await ws.send(json.dumps({"type": "start_transcription", "config": start or {"language": "ko"}}))
    for i, frame in enumerate(audio.frames(pcm, 100)):
        if binary:
            await ws.send(frame)
        else:
            await ws.send(json.dumps({"type": "audio_data", "audio": base64.b64encode(frame).decode(), "chunk_id": i}))
    await ws.send(json.dumps({"type": "stop_transcription"}))
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
        if frame["type"] == "transcription_stopped":
            return frames, frame
        frames.append(frame)


def finals_text(frames) -> str:
    return " ".join(f["text"] for f in frames if f["type"] == "transcript_final")


# -- from test_service --
@contextlib.contextmanager
def serving(*args: str, token: str = TOKEN):
    """``stt-notebook serve`` as its own process; yields its port and process."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "stt_notebook.cli", "serve", "--port", str(port),
                             "--token", token, *args], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(300):
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                break
            time.sleep(0.1)
        yield port, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(30)


# -- from test_widget --
class Page:
    """What the browser would receive: every custom message, with its arrival time."""

    def __init__(self, w: LiveTranscriber):
        self.messages: list[tuple[float, dict]] = []
        w.send = lambda content, buffers=None: self.messages.append((time.monotonic(), json.loads(json.dumps(content))))

    def updates(self) -> list[dict]:
        return [m for _, m in self.messages if m["type"] == "update"]

    def finals_text(self) -> str:
        return "".join(f["text"] for m in self.updates() for f in m.get("finals", []))


def wait_until(predicate, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def speak(w: LiveTranscriber, pcm: bytes, frame_ms: int = 100, realtime_factor: float = 4.0) -> None:
    """Send a clip as the page does: start, binary frames, stop."""
    from_page(w, {"type": "start"})
    for seq, frame in enumerate(audio.frames(pcm, frame_ms)):
        from_page(w, {"type": "audio", "seq": seq, "t": time.time() * 1000}, [frame])
        time.sleep(frame_ms / 1000 / realtime_factor)
    from_page(w, {"type": "stop"})


# -- from test_deepgram --
@contextlib.contextmanager
def running(mode: str):
    """A serve-deepgram variant (tests/deepgram_servers.py) as its own process; yields its ws:// URL."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tests.deepgram_servers", mode, str(port)],
                            cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


# -- from test_hostile --
def serve_deepgram(env: dict, *args: str):
    """`stt-notebook serve-deepgram` as its own process; returns (process, ws:// URL)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "stt_notebook.cli", "serve-deepgram", "--port", str(port), *args],
                            env={**os.environ, **env}, stderr=subprocess.PIPE, text=True)
    for _ in range(150):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"ws://127.0.0.1:{port}"
        except OSError:
            if proc.poll() is not None:
                return proc, None
            time.sleep(0.1)
    raise AssertionError("serve-deepgram did not start")


# -- from test_shutdown --
async def first_result(ws, keep_alive: str | None = None) -> dict:
    """The stream's first message: the engine has loaded and is decoding (a cold start is not a
    drain: on a slow machine loading the Korean model and spacer took 8 s, near the drain's 10 s).
    ``keep_alive`` is sent every 3 s meanwhile, as Deepgram's SDK does (/v1/listen closes a stream
    silent for 10 s)."""
    for _ in range(20):
        try:
            return json.loads(await asyncio.wait_for(ws.recv(), 3))
        except asyncio.TimeoutError:
            if keep_alive:
                await ws.send(keep_alive)
    raise AssertionError("no result within 60 s")


# -- one Korean clip of three sentences, in the formats clients send --
_SPEECH = [KO_CLIPS[i] for i in (7, 4, 2)]  # one clip of three sentences, 1 s apart (~27 s)
THREE_SENTENCES = b"".join(audio.load_pcm16(path) + bytes(audio.SAMPLE_RATE * 2) for path, _ in _SPEECH)
THREE_SENTENCES_TEXT = " ".join(reference for _, reference in _SPEECH)
# name: (PyAV muxer, codec, rate, bit rate, the query's encoding)
FORMATS = {
    "webm-opus": ("webm", "libopus", 48000, 48000, None),
    "ogg-opus": ("ogg", "libopus", 48000, 48000, None),
    "flac": ("flac", "flac", 16000, None, None),
    "mp3": ("mp3", "libmp3lame", 16000, 32000, None),
    "m4a": ("ipod", "aac", 16000, 48000, None),
    "wav-44k-stereo": ("wav", "pcm_s16le", 44100, None, None),
    "mulaw-8k": ("mulaw", "pcm_mulaw", 8000, None, "mulaw"),
    "alaw-8k": ("alaw", "pcm_alaw", 8000, None, "alaw"),
}


def encoded(name: str, bit_rate: int | None = None) -> bytes:
    """The clip as a file of this format, made with PyAV (what ffmpeg or a browser would write)."""
    muxer, codec, rate, default_rate, _ = FORMATS[name]
    bit_rate = bit_rate or default_rate
    samples = np.frombuffer(THREE_SENTENCES, "<i2").reshape(1, -1)
    layout = "stereo" if "stereo" in name else "mono"
    out_buffer = io.BytesIO()
    with av.open(out_buffer, "w", format=muxer) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        if bit_rate:
            stream.bit_rate = bit_rate
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.rate = audio.SAMPLE_RATE
        for piece in av.AudioResampler(format=stream.format.name, layout=layout, rate=rate).resample(frame):
            out.mux(stream.encode(piece))
        out.mux(stream.encode(None))
    return out_buffer.getvalue()


def chunks(data: bytes, seed: int = 0, sample_bytes: int = 1) -> list[bytes]:
    """2-4 kB pieces, as a recorder or a file upload sends them (raw audio: whole samples)."""
    rng, out, i = random.Random(seed), [], 0
    while i < len(data):
        n = rng.randint(2000, 4000) // sample_bytes * sample_bytes
        out.append(data[i:i + n])
        i += n
    return out


def wait_preloaded(http_url: str, token: str, timeout: float = 180) -> None:
    """Until a ``serve`` has loaded the models it preloads (``/info``'s "preloaded"): a test that
    asks for live behaviour (interims while speaking) then meets a warm server, however busy the
    machine is while it starts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            request = urllib.request.Request(http_url.rstrip("/") + "/info", headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=5) as response:
                if "loading" not in json.loads(response.read())["preloaded"].values():
                    return
        time.sleep(0.5)
    raise AssertionError(f"the models were not loaded within {timeout:g} s")

