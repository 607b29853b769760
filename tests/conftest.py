"""Shared fixtures: real speech clips with their references, and how to score them."""

from __future__ import annotations

import contextlib
import difflib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

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


@pytest.fixture(scope="session")
def ko_clip() -> tuple[Path, str]:
    return KO_CLIPS[7]  # 104_003_0374: 8.1 s, one sentence


@pytest.fixture(scope="session")
def en_clip() -> tuple[Path, str]:
    return next(c for c in EN_CLIPS if c[0].stem == "1089-134686-0007")  # 4.3 s


async def stream_events(pcm: bytes, language: str, engine: str = "auto", *, frame_ms: int = 100,
                        realtime: bool = False, **options):
    """Run a Session over PCM16 and return (transcript, events in order)."""
    from stt_notebook import Session

    session = Session(engine, language, **options)
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
        proc.wait(10)
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    with run_jupyter_server(tmp_path_factory.mktemp("jp"), {"max_sessions": 24, "max_frame_bytes": 256 * 1024}) as s:
        yield s
