"""What the transport adds per frame: the Jupyter relay against `stt-notebook serve` (uvicorn),
in the same run, with the instant `echo` engine.

    python benchmarks/service.py [--streams 1,10,50] [--seconds 5]

Each of N concurrent streams sends real-time 20 ms frames; a frame's round trip is from its send
to its echo's arrival. In-process (no transport) is the floor; "added" is p99 over it. The service
runs with 1 and with 2 worker processes. A warm-up run first pays each process's first session.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.relay import echo_round_trips, pct  # noqa: E402
from tests.support import TOKEN, _free_port, run_jupyter_server  # noqa: E402


@contextlib.contextmanager
def service(workers: int):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "stt_notebook.cli", "serve", "--port", str(port), "--token", TOKEN,
                             "--workers", str(workers), "--max-sessions", "200", "--engines", "echo"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                break
            time.sleep(0.1)
        yield {"http": f"http://127.0.0.1:{port}/"}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", default="1,10,50")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, run_jupyter_server(Path(tmp), {"max_sessions": 200}) as jupyter, \
            service(1) as one, service(2) as two:
        hosts = {"jupyter relay": jupyter, "serve, 1 worker": one, "serve, 2 workers": two}
        for host in hosts.values():  # every worker's first session loads what sessions need: not measured
            asyncio.run(echo_round_trips(6, 2.0, host, 20))
        print("echo engine, 20 ms frames at real time; per-frame round trip, p50 / p99 ms (added p99 over in-process)")
        for n in map(int, args.streams.split(",")):
            base = asyncio.run(echo_round_trips(n, args.seconds, None, 20))
            cells = [f"in-process {pct(base, 50):5.2f} / {pct(base, 99):6.2f}"]
            for name, host in hosts.items():
                trips = asyncio.run(echo_round_trips(n, args.seconds, host, 20))
                cells.append(f"{name} {pct(trips, 50):6.2f} / {pct(trips, 99):7.2f} ({pct(trips, 99) - pct(base, 99):+7.2f})")
            print(f"{n:3} streams | " + " | ".join(cells), flush=True)


if __name__ == "__main__":
    main()
