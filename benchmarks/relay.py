"""What the Jupyter /ws/stt relay adds over calling the engine in-process.

    python benchmarks/relay.py [--streams 1,10,50]

1. Real speech (vosk, Korean, paced at real time): latency of each event (its audio end → its
   arrival) in-process and through a real `jupyter server`, p50/p99, and the difference.
2. Transport alone: the instant `echo` engine at 1, 10 and 50 concurrent real-time streams of
   20 ms and of 100 ms frames; per-frame round trip (frame sent → its echo back), in-process and
   through the relay.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook import Final, Interim, Session, audio  # noqa: E402
from stt_notebook.client import RelayClient  # noqa: E402
from tests.support import TOKEN, run_jupyter_server  # noqa: E402

CLIPS = sorted((ROOT / "tests" / "data" / "ko").glob("*.flac"))[:3]
FRAME_MS = 20


def pct(values, q) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def line(label: str, values: list[float]) -> str:
    return f"{label}: p50 {pct(values, 50):7.2f} ms, p99 {pct(values, 99):7.2f} ms ({len(values)} samples)"


async def speech_latencies(pcm: bytes, server: dict | None) -> dict[str, list[float]]:
    """Arrival − (start + audio end) of every final and interim, one stream at real time."""
    out: dict[str, list[float]] = {"final": [], "interim": []}
    t0 = [0.0]

    def record(event):
        if isinstance(event, (Final, Interim)) and event.end > 0:
            out["final" if isinstance(event, Final) else "interim"].append(time.perf_counter() - (t0[0] + event.end))

    if server is None:
        session = Session("ko", engine="vosk")
        await session.start()
        session.subscribe(record)
        t0[0] = time.perf_counter()
        await session.run(pcm, realtime=True, frame_ms=FRAME_MS)
    else:
        async with RelayClient(server["http"], TOKEN) as relay:
            await relay.transcribe(pcm[:32000], realtime=False, language="ko", engine="vosk")  # warm the model
            t0[0] = time.perf_counter()
            await relay.transcribe(pcm, realtime=True, frame_ms=FRAME_MS, on_event=record, language="ko", engine="vosk")
    return out


async def echo_round_trips(n: int, seconds: float, server: dict | None, frame_ms: int) -> list[float]:
    """Per-frame round trip of n concurrent real-time streams through the echo engine."""
    pcm = bytes(int(seconds * 16000) * 2)
    trips: list[float] = []

    async def one() -> None:
        sent: dict[float, float] = {}
        position = [0.0]

        async def frames():
            async for frame in _paced(pcm, frame_ms):
                position[0] = round(position[0] + len(frame) / 32000, 3)
                sent[position[0]] = time.perf_counter()
                yield frame

        def back(event):
            if isinstance(event, Final) and event.end in sent:
                trips.append(time.perf_counter() - sent[event.end])

        if server is None:
            session = Session("ko", engine="echo")
            session.subscribe(back)
            await session.run(frames())
        else:
            async with RelayClient(server["http"], TOKEN) as relay:
                await relay.transcribe(frames(), realtime=False, on_event=back, engine="echo")

    await asyncio.gather(*(one() for _ in range(n)))
    return trips


async def _paced(pcm: bytes, frame_ms: int):
    from stt_notebook.sources import source_frames

    async for frame in source_frames(pcm, frame_ms, realtime=True):
        yield frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=5.0, help="audio per echo stream")
    args = parser.parse_args()
    pcms = [audio.load_pcm16(p) for p in CLIPS]
    with tempfile.TemporaryDirectory() as tmp, run_jupyter_server(Path(tmp), {"max_sessions": 200}) as server:
        print(f"== real speech, vosk ko, {len(pcms)} clips at real time, {FRAME_MS} ms frames ==")
        direct: dict[str, list[float]] = {"final": [], "interim": []}
        relayed: dict[str, list[float]] = {"final": [], "interim": []}
        for pcm in pcms:
            for into, srv in ((direct, None), (relayed, server)):
                got = asyncio.run(speech_latencies(pcm, srv))
                for k in into:
                    into[k] += got[k]
        for kind in ("final", "interim"):
            print(line(f"{kind:8} in-process", direct[kind]))
            print(line(f"{kind:8} via relay ", relayed[kind]))
            print(f"{kind:8} relay adds: p50 {pct(relayed[kind], 50) - pct(direct[kind], 50):+.2f} ms, "
                  f"p99 {pct(relayed[kind], 99) - pct(direct[kind], 99):+.2f} ms")
        for frame_ms in (20, 100):
            print(f"\n== transport alone: echo engine, {args.seconds:g} s of {frame_ms} ms frames per stream ==")
            for n in map(int, args.streams.split(",")):
                base = asyncio.run(echo_round_trips(n, args.seconds, None, frame_ms))
                via = asyncio.run(echo_round_trips(n, args.seconds, server, frame_ms))
                print(f"{n:3} streams: in-process p50 {pct(base, 50):6.2f} ms p99 {pct(base, 99):6.2f} ms | "
                      f"via relay p50 {pct(via, 50):6.2f} ms p99 {pct(via, 99):6.2f} ms | "
                      f"added p99 {pct(via, 99) - pct(base, 99):+6.2f} ms")

if __name__ == "__main__":
    main()
