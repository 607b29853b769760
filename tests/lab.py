"""Driving a real JupyterLab / Notebook 7 in Debian's Chromium, whose fake microphone plays a WAV.

Shared by the browser tests and ``benchmarks/widget_latency.py``. Playwright never downloads a
browser here: it is pointed at the system Chromium.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from stt_notebook import audio

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
