"""What the Deepgram protocol path adds over calling the offline engine directly.

    python benchmarks/deepgram_compat.py

The same Korean clips at real time, 20 ms frames: vosk in-process, then the deepgram engine against
a local serve-deepgram (vosk behind Deepgram's /v1/listen on loopback). Prints each event's latency
(its audio end → its arrival), p50/p99, and the difference.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.relay import CLIPS, FRAME_MS, line, pct  # noqa: E402
from stt_notebook import Final, Interim, Session, audio, engines  # noqa: E402
from tests.conftest import _free_port  # noqa: E402
from tests.deepgram_servers import KEY  # noqa: E402


async def latencies(engine: str, pcm: bytes) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"final": [], "interim": []}
    session = Session(engine, "ko")
    await session.start()
    t0 = [0.0]
    session.subscribe(lambda e: isinstance(e, (Final, Interim)) and e.end > 0 and out[
        "final" if isinstance(e, Final) else "interim"].append(time.perf_counter() - (t0[0] + e.end)))
    t0[0] = time.perf_counter()
    await session.run(pcm, realtime=True, frame_ms=FRAME_MS)
    return out


def main() -> None:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "tests.deepgram_servers", "plain", str(port)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        os.environ.update(DEEPGRAM_URL=f"ws://127.0.0.1:{port}", DEEPGRAM_API_KEY=KEY)
        engines._cache.pop(("deepgram", None), None)
        pcms = [audio.load_pcm16(p) for p in CLIPS]
        asyncio.run(latencies("deepgram", pcms[0][:32000]))  # load the server's model first
        results = {"vosk": {"final": [], "interim": []}, "deepgram": {"final": [], "interim": []}}
        for pcm in pcms:
            for engine, into in results.items():
                got = asyncio.run(latencies(engine, pcm))
                for kind in into:
                    into[kind] += got[kind]
        print(f"== {len(pcms)} Korean clips at real time, {FRAME_MS} ms frames ==")
        for kind in ("final", "interim"):
            direct, via = results["vosk"][kind], results["deepgram"][kind]
            print(line(f"{kind:8} vosk in-process       ", direct))
            print(line(f"{kind:8} deepgram protocol path", via))
            print(f"{kind:8} the protocol path adds: p50 {pct(via, 50) - pct(direct, 50):+.2f} ms, "
                  f"p99 {pct(via, 99) - pct(direct, 99):+.2f} ms")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
