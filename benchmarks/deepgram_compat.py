"""What the Deepgram protocol path adds over calling the offline engine directly.

    python benchmarks/deepgram_compat.py [--clips 10]

The deepgram engine streams Korean clips (paced as it paces files) to a local serve-deepgram on
loopback, whose Session runs vosk. The server process logs the wall-clock instant each event
leaves its engine; the client logs the instant the same event comes out of the deepgram engine.
The difference is exactly what the protocol path adds — Results JSON, WebSocket, parsing, queues —
with the engine's own timing taken out. Printed per final and per interim: p50, p99, max.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict, deque
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook import Final, Interim, Session, audio  # noqa: E402
from tests.support import KO_CLIPS, _free_port  # noqa: E402
from tests.deepgram_servers import KEY  # noqa: E402


def event_key(event) -> tuple:
    return type(event).__name__, event.text, round(event.start, 2)


def serve(port: int, log_path: str) -> None:
    """The server side (a child process): serve-deepgram, logging when each event leaves the engine."""
    import stt_notebook.wire.listen as listen
    from stt_notebook.service.app import ServiceConfig
    from stt_notebook.service.run import serve

    build = listen.event_message
    log = open(log_path, "a", buffering=1)

    def logged(event, *args, **kwargs):
        if isinstance(event, (Final, Interim)):
            log.write(json.dumps([time.time(), *event_key(event)], ensure_ascii=False) + "\n")
        return build(event, *args, **kwargs)

    listen.event_message = logged
    print("ready", flush=True)
    serve(ServiceConfig(token=KEY), "127.0.0.1", port)


async def stream(pcm: bytes) -> list[list]:
    arrivals: list[list] = []
    session = Session("ko", engine="deepgram")
    session.subscribe(lambda e: isinstance(e, (Final, Interim)) and arrivals.append([time.time(), *event_key(e)]))
    await session.run(pcm)
    return arrivals


def figures(label: str, added_ms: list[float]) -> str:
    if not added_ms:
        return f"{label}: no samples"
    v = np.asarray(added_ms)
    return (f"{label}: p50 {np.percentile(v, 50):6.2f} ms, p99 {np.percentile(v, 99):6.2f} ms, "
            f"max {v.max():6.2f} ms ({len(v)} events)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=10, help="how many of the 10 Korean clips to stream")
    parser.add_argument("--repeat", type=int, default=3, help="stream the clips this many times")
    args = parser.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log_path = Path(tmp) / "server_events.jsonl"
        server = subprocess.Popen([sys.executable, "-m", "benchmarks.deepgram_compat", "--serve", str(port), str(log_path)],
                                  cwd=ROOT, stdout=subprocess.PIPE, text=True)
        try:
            server.stdout.readline()
            os.environ.update(DEEPGRAM_URL=f"ws://127.0.0.1:{port}", DEEPGRAM_API_KEY=KEY)
            pcms = [audio.load_pcm16(path) for path, _ in KO_CLIPS[: args.clips]]
            asyncio.run(stream(pcms[0][:32000]))  # the server loads its model
            arrivals = [a for _ in range(args.repeat) for pcm in pcms for a in asyncio.run(stream(pcm))]
        finally:
            server.terminate()
            server.wait(10)
        sent: dict[tuple, deque] = defaultdict(deque)
        for line in log_path.read_text(encoding="utf-8").splitlines():
            t, *key = json.loads(line)
            sent[tuple(key)].append(t)  # repeats of a clip give identical events: matched in order
    added: dict[str, list[float]] = {"Final": [], "Interim": []}
    unmatched = 0
    for t, *key in arrivals:
        if sent[tuple(key)]:
            added[key[0]].append((t - sent[tuple(key)].popleft()) * 1000)
        else:
            unmatched += 1
    print(f"== {len(pcms)} Korean clips x{args.repeat} through the deepgram engine → serve-deepgram (vosk) on loopback ==")
    print(figures("finals  : the protocol path adds", added["Final"]))
    print(figures("interims: the protocol path adds", added["Interim"]))
    print(f"({unmatched} client events had no server twin to time against)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]), sys.argv[3])
    else:
        main()
