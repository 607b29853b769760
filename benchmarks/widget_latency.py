"""LiveTranscriber transport latency in a real browser, both ways, with and without TCP_NODELAY.

    python benchmarks/widget_latency.py [--seconds 20]

JupyterLab in headless Chromium; the fake microphone plays Korean speech into a LiveTranscriber
running the instant ``echo`` engine, so only the transport is timed:
- browser → kernel: each 100 ms audio frame, page send time → the kernel's loop receiving it;
- kernel → browser: each view update, kernel send time → the page receiving it.
Both clocks are this machine's wall clock. Runs:
1. the extension's defaults: ``kernel_nodelay`` and ``quiet_audio_status`` on;
2. ``quiet_audio_status`` off: every audio frame makes the kernel publish busy then idle, and the
   page redraws its kernel indicators for each, on the main thread that receives our updates;
3. both off, which is jupyter_server as it ships (Nagle's algorithm adds ~40 ms);
4. the defaults with a file source, so updates flow kernel → browser with no audio coming up.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import (KO_CLIPS, TOKEN, cell_json, chromium_page, fake_microphone_wav, open_notebook, run_cell,
                          run_jupyter_server, write_notebook)  # noqa: E402

def cells(source: str) -> list[str]:
    return [f"from stt_notebook import LiveTranscriber\nw = LiveTranscriber(language='ko', engine='echo', source={source!r})\nw",
            "import json\nprint(json.dumps({'up': list(w.up_latency_ms)}))"]


def figures(label: str, values: list[float]) -> str:
    if len(values) < 10:
        return f"{label}: none"
    v = np.asarray(values[5:])  # the first frames include the page and session warming up
    return f"{label}: p50 {np.percentile(v, 50):6.2f} ms, p95 {np.percentile(v, 95):6.2f} ms ({len(v)} messages)"


def measure(tunings: dict[str, bool], seconds: float, workdir: Path, source: str = "browser") -> tuple[list[float], list[float]]:
    with run_jupyter_server(workdir, tunings) as server:
        write_notebook(server["root"] / "latency.ipynb", cells(source))
        wav = fake_microphone_wav(KO_CLIPS[0][0], workdir / "mic.wav", tail=seconds)
        with chromium_page(wav) as page:
            open_notebook(page, {**server, "token": TOKEN}, "latency.ipynb")
            run_cell(page, 0)
            page.get_by_role("button", name="Start recording").click(timeout=90_000)
            time.sleep(seconds)
            if (stop := page.get_by_role("button", name="Stop recording")).is_visible():
                stop.click()  # a file source may have ended by itself
            page.get_by_role("status").filter(has_text="idle").wait_for(timeout=30_000)
            down = page.evaluate("() => [...globalThis.__sttNotebook.values()].flatMap((s) => s.downLatencyMs)")
            run_cell(page, 1)
            up = cell_json(page, 1)["up"]
    return up, down


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to record in each run")
    args = parser.parse_args()
    long_clip = str(KO_CLIPS[0][0])
    on = {"kernel_nodelay": True, "quiet_audio_status": True}
    runs = [(on, "browser", "defaults (TCP_NODELAY, quiet audio status), browser microphone"),
            ({**on, "quiet_audio_status": False}, "browser", "TCP_NODELAY, a busy/idle status per audio frame"),
            ({"kernel_nodelay": False, "quiet_audio_status": False}, "browser",
             "both off (jupyter_server as it ships), browser microphone"),
            (on, long_clip, "defaults, file source: no audio coming up from the browser")]
    for tunings, source, title in runs:
        with tempfile.TemporaryDirectory() as tmp:
            up, down = measure(tunings, args.seconds, Path(tmp), source)
        print(title)
        print("  " + figures("browser → kernel, audio frames ", up))
        print("  " + figures("kernel → browser, view updates", down))


if __name__ == "__main__":
    main()
