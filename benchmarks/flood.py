"""A connection flood against ``stt-notebook serve`` limited to 1,024 open files, as a hostile
client on this machine would send it: 300 half-sent handshakes, then authenticated /ws/stt
connections until refused (at most 1,000), then probes that hang up. Prints the service's open
file descriptors and RSS, whether /health answers, and whether the process lived.

    python benchmarks/flood.py                 # this checkout
    python benchmarks/flood.py --src /tmp/old  # another checkout's stt_notebook, for before/after
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import websockets

TOKEN = "flood"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def health(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as r:
            return str(r.status)
    except Exception as e:  # noqa: BLE001 — what a prober would see
        return type(e).__name__


def state(pid: int) -> str:
    try:
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        rss = int(next(l for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")).split()[1]) // 1024
        return f"{fds} fds, {rss} MB RSS"
    except (FileNotFoundError, StopIteration):
        return "process gone"


async def flood(port: int, pid: int) -> None:
    print(f"  idle:                    {state(pid)}, /health {health(port)}")
    half = []
    for _ in range(300):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /ws/stt HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        half.append(s)
    await asyncio.sleep(1)
    print(f"  300 half-sent handshakes: {state(pid)}, /health {health(port)}")
    held, refused = [], 0
    for _ in range(1000):
        try:
            held.append(await asyncio.wait_for(
                websockets.connect(f"ws://127.0.0.1:{port}/ws/stt?token={TOKEN}", open_timeout=5), 6))
        except (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidStatus, websockets.exceptions.InvalidMessage):
            refused += 1
            if refused > 20:
                break
    print(f"  {len(held)} WebSockets held ({refused} refused): {state(pid)}, /health {health(port)}")
    await asyncio.sleep(12)
    print(f"  12 s later:               {state(pid)}, /health {health(port)}")
    for ws in held:
        with contextlib.suppress(Exception):
            await ws.close()
    for s in half:
        s.close()
    for i in range(300):
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    await asyncio.sleep(2)
    print(f"  all closed, 300 probes:   {state(pid)}, /health {health(port)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", default=None, help="a checkout whose stt_notebook to run")
    args = parser.parse_args()
    port = free_port()
    env = {**os.environ, **({"PYTHONPATH": args.src} if args.src else {})}
    command = ["prlimit", "--nofile=1024:1024", sys.executable, "-m", "stt_notebook.cli", "serve", "--port", str(port),
               "--token", TOKEN, "--lazy", "--engines", "echo"]
    log = open(os.devnull, "w")
    proc = subprocess.Popen(command, env=env, stderr=log, start_new_session=True, cwd=args.src or None)
    try:
        for _ in range(100):
            if health(port) == "200":
                break
            time.sleep(0.2)
        print(f"stt-notebook serve ({args.src or 'this checkout'}), 1,024 open files:")
        asyncio.run(flood(port, proc.pid))
        print(f"  the process: {'alive' if proc.poll() is None else f'died, exit {proc.returncode}'}")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
