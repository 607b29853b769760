"""The first recording as a person meets it: a freshly started kernel, a click, and the time
until the first words show in the cell.

    python benchmarks/first_words.py [--runs 2] [--language ko] [--delay 0] [--ui lab|notebook]

JupyterLab in headless Chromium; the fake microphone plays a clip that starts with 1 s of
silence. A new Jupyter server (so a new kernel) per run; the cell makes
``LiveTranscriber(language=…)``; the page clicks "Start recording" ``--delay`` seconds after the
button shows (0: at once, the worst case), then a second recording in the same kernel. The page
itself records when capture started (getUserMedia resolved: the fake device starts playing then)
and when text first appeared in the live view, so nothing here depends on the widget's own code.

Prints, per recording: click → first text, and speech start → first text (speech start =
capture start + the fixture's first loud 20 ms frame).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook import audio  # noqa: E402
from tests.support import (EN_CLIPS, FAKE_MIC_RATE, KO_CLIPS, TOKEN, chromium_page, corpus_cer, fake_microphone_wav,
                          open_notebook, run_cell, run_jupyter_server, write_notebook)  # noqa: E402

# Timestamps the page takes for itself: when getUserMedia resolved, and when text first showed.
PAGE_CLOCK = """
(() => {
  const marks = (globalThis.__firstWords = { captures: [], texts: [] });
  const original = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
  navigator.mediaDevices.getUserMedia = async (c) => {
    const stream = await original(c);
    marks.captures.push(performance.now());
    return stream;
  };
  const seen = () => {
    const text = [...document.querySelectorAll('[role="log"], [aria-live="polite"]')]
      .map((el) => el.textContent.replace(/\\d+\\.\\ds/g, "")).join("").trim();
    if (/[\\p{L}]/u.test(text) && marks.texts.length < marks.captures.length) marks.texts.push(performance.now());
    else if (!text && marks.texts.length === marks.captures.length) { /* cleared between takes */ }
  };
  new MutationObserver(seen).observe(document, { subtree: true, childList: true, characterData: true });
})();
"""


def speech_onset(wav: Path) -> float:
    """Seconds into the fixture where the first 20 ms frame is louder than -40 dBFS."""
    pcm = audio.load_pcm16(wav)
    for i, frame in enumerate(audio.frames(pcm, 20)):
        if audio.level_dbfs(frame) > -40:
            return i * 0.02
    raise ValueError("no speech in the fixture")


def one_kernel(clip: Path, language: str, delay: float, workdir: Path, ui: str = "lab",
               transport: str = "pcm") -> list[dict]:
    """Two recordings in one fresh kernel; per recording, the page's own timings (seconds)."""
    wav = fake_microphone_wav(clip, workdir / "mic.wav", lead=1.0, tail=2.0)
    onset = speech_onset(wav)
    takes = []
    with run_jupyter_server(workdir, {}) as server:
        write_notebook(server["root"] / "first.ipynb",
                       [f"from stt_notebook import LiveTranscriber\n"
                        f"w = LiveTranscriber(language={language!r}, transport={transport!r})\nw"])
        with chromium_page(wav) as page:
            page.add_init_script(PAGE_CLOCK)
            open_notebook(page, {**server, "token": TOKEN}, "first.ipynb", ui)
            run_cell(page, 0)
            for take in range(2):
                start = page.get_by_role("button", name="Start recording")
                start.wait_for(timeout=120_000)
                time.sleep(delay)
                clicked = page.evaluate("() => performance.now()")
                start.click()
                page.wait_for_function(f"() => globalThis.__firstWords.texts.length > {take}", timeout=60_000)
                marks = page.evaluate("() => globalThis.__firstWords")
                capture, text = marks["captures"][take], marks["texts"][take]
                takes.append({"click_to_text": (text - clicked) / 1000,
                              "speech_to_text": (text - capture) / 1000 - onset})
                time.sleep(audio.duration(audio.load_pcm16(wav)) + 1.0)  # the clip plays out
                page.get_by_role("button", name="Stop recording").click()
                page.get_by_role("status").filter(has_text="idle").wait_for(timeout=60_000)
                takes[-1]["bytes_per_second"] = page.evaluate(
                    "() => Math.max(...[...globalThis.__sttNotebook.values()].map((s) => s.sentBytes))") / (
                    (page.evaluate("() => performance.now()") - capture) / 1000)
                takes[-1]["text"] = page.get_by_role("log").inner_text()
                page.evaluate("() => { for (const s of globalThis.__sttNotebook.values()) s.sentBytes = 0; }")
                page.evaluate("() => { for (const s of globalThis.__sttNotebook.values()) { s.finals = []; s.interim = null; } }")
                # the next take needs an empty view to see its own first text: reload the cell's view state
                page.evaluate("() => document.querySelectorAll('[role=\"log\"]').forEach((el) => el.replaceChildren())")
    return takes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="fresh kernels (each records twice)")
    parser.add_argument("--language", default="ko", choices=("ko", "en"))
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between the button showing and the click")
    parser.add_argument("--ui", default="lab", choices=("lab", "notebook"), help="JupyterLab or Notebook 7")
    parser.add_argument("--transports", default="pcm", help="pcm, opus or both (pcm,opus): compared in one run")
    args = parser.parse_args()
    clip, reference = KO_CLIPS[7] if args.language == "ko" else EN_CLIPS[7]
    for transport in args.transports.split(","):
        results = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                results.append(one_kernel(clip, args.language, args.delay, Path(tmp), args.ui, transport))
        print(f"first words in the cell ({'JupyterLab' if args.ui == 'lab' else 'Notebook 7'}, transport={transport}, "
              f"{args.language}, {clip.name}, fake microphone at {FAKE_MIC_RATE} Hz, "
              f"click {args.delay:g} s after the button shows, {args.runs} fresh kernels)")
        for take, name in enumerate(("first recording (cold kernel)", "second recording (warm)")):
            click = [r[take]["click_to_text"] for r in results]
            speech = [r[take]["speech_to_text"] for r in results]
            sent = statistics.median(r[take]["bytes_per_second"] for r in results)
            cer = corpus_cer([reference] * len(results), [re.sub(r"\b\d+\.\ds", "", r[take]["text"]) for r in results])
            print(f"  {name}: click → first text median {statistics.median(click):.2f} s "
                  f"(runs: {', '.join(f'{x:.2f}' for x in click)}); speech start → first text median "
                  f"{statistics.median(speech):.2f} s (runs: {', '.join(f'{x:.2f}' for x in speech)}); "
                  f"{sent / 1000:.1f} kB/s sent; CER {cer:.3f}")


if __name__ == "__main__":
    main()
