"""The first client of a freshly started `stt-notebook serve`, with the models loaded at start
(the default) and with ``--lazy`` (loaded on that first client), in the same run.

    python benchmarks/first_client.py [--after 10] [--language ko]

Each run starts the service, waits ``--after`` seconds (an operator starts it before anyone
speaks), then streams a clip to /ws/stt at real time and prints the time from the first audio
sent to the first result (interim or final), and that of a second client right after.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stt_notebook import audio  # noqa: E402
from tests.support import EN_CLIPS, KO_CLIPS, TOKEN, serving  # noqa: E402


async def first_result_after(port: int, pcm: bytes, language: str) -> float:
    """Seconds from the first audio frame sent (paced at real time) to the first result."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}") as ws:
        await ws.send(json.dumps({"type": "start_transcription", "config": {"language": language}}))
        started = time.perf_counter()

        async def send() -> None:
            for i, frame in enumerate(audio.frames(pcm, 100)):
                await asyncio.sleep(max(0.0, started + i * 0.1 - time.perf_counter()))
                await ws.send(frame)

        sender = asyncio.create_task(send())
        while json.loads(await ws.recv())["type"] not in ("transcript_interim", "transcript_final"):
            pass
        took = time.perf_counter() - started
        sender.cancel()
        return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--after", type=float, default=10.0, help="seconds between the start and the first client")
    parser.add_argument("--language", default="ko", choices=("ko", "en"))
    args = parser.parse_args()
    pcm = audio.load_pcm16((KO_CLIPS if args.language == "ko" else EN_CLIPS)[0][0])
    for label, flags in (("--lazy (before)", ("--lazy",)), ("preloaded at start", ())):
        with serving(*flags) as (port, _):
            time.sleep(args.after)
            first = asyncio.run(first_result_after(port, pcm, args.language))
            second = asyncio.run(first_result_after(port, pcm, args.language))
        print(f"{label}: first client's first result {first:.2f} s after its audio began, second client's {second:.2f} s")


if __name__ == "__main__":
    main()
