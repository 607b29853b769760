"""Which of the project's files one browser audio frame passes on its way to a DataFrame row.

    python benchmarks/frame_path.py [--engine echo|vosk]

A LiveTranscriber is started and warmed (a first second of audio); then one more frame arrives as
the page sends it (a binary comm buffer) and is followed until ``w.transcript.words`` holds its
row (echo: a row per frame; vosk: the frame that closes the utterance, then the page's stop).
Every function call in every thread is recorded (``sys.setprofile``); the files are printed in the
order the frame first reached them, split into the wire it came by (the page's comm codec and
the one connection adapter and state machine) and the core every wire shares (session, level, engine, text stage,
transcript). The page's own file, ``widget/static/live.js``, comes before all of them.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook import LiveTranscriber, audio  # noqa: E402
from tests.support import KO_CLIPS  # noqa: E402

PACKAGE = str(ROOT / "stt_notebook") + "/"
WIRE = ("widget/", "wire/", "jupyter/")


def page_message(w: LiveTranscriber, content: dict, buffers: list[bytes] = ()) -> None:
    """A page message as ipywidgets hands it to the kernel, then a wait until the widget's loop took it."""
    w._handle_msg({"content": {"data": {"method": "custom", "content": content}},
                   "buffers": [memoryview(b) for b in buffers]})
    w._in_loop(lambda: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", default="echo", choices=["echo", "vosk"])
    args = parser.parse_args()
    seen: dict[str, str] = {}
    tracing = threading.Event()

    def profile(frame, event, arg):
        if event == "call" and tracing.is_set() and frame.f_code.co_filename.startswith(PACKAGE):
            seen.setdefault(frame.f_code.co_filename[len(PACKAGE):], frame.f_code.co_name)

    threading.setprofile(profile)  # threads started from here on: the widget's loop, the decode pool
    sys.setprofile(profile)
    w = LiveTranscriber(language="ko", engine=args.engine)
    w.send = lambda content, buffers=None: None  # no page: what the kernel sends goes nowhere
    frames = list(audio.frames(audio.load_pcm16(KO_CLIPS[7][0]), 100))
    page_message(w, {"type": "start"})
    for seq, frame in enumerate(frames[:-1] if args.engine == "vosk" else frames[:10]):
        page_message(w, {"type": "audio", "seq": seq, "t": time.time() * 1000}, [frame])
    deadline = time.monotonic() + 60
    while (args.engine == "echo" and len(w.transcript.words) < 10) or w.status.startswith("loading"):
        assert time.monotonic() < deadline, w.status
        time.sleep(0.05)
    time.sleep(2.0)  # the engine has caught up: what follows is one frame's path alone
    rows = len(w.transcript.words)
    tracing.set()
    page_message(w, {"type": "audio", "seq": len(frames), "t": time.time() * 1000}, [frames[-1]])
    if args.engine == "vosk":
        page_message(w, {"type": "stop"})
    while len(w.transcript.words) <= rows:
        assert time.monotonic() < deadline, "no row"
        time.sleep(0.01)
    tracing.clear()
    sys.setprofile(None)
    threading.setprofile(None)
    w.close()
    wire = [f for f in seen if f.startswith(WIRE)]
    core = [f for f in seen if not f.startswith(WIRE)]
    print(f"one browser frame → a row of w.transcript.words ({args.engine} engine): "
          f"{len(seen) + 1} files, widget/static/live.js first")
    print(f"  its wire ({len(wire)}): " + ", ".join(f"{f} ({seen[f]})" for f in wire))
    print(f"  the core every wire shares ({len(core)}): " + ", ".join(f"{f} ({seen[f]})" for f in core))


if __name__ == "__main__":
    main()
