"""``LocalDeepgram``: Deepgram's live API served offline by ``stt-notebook serve-deepgram`` in a
child process, for notebooks and scripts without a key (``DEEPGRAM_URL`` points the deepgram engine,
or any Deepgram client, at it)."""

from __future__ import annotations

from ..errors import STTError


class LocalDeepgram:
    """``stt-notebook serve-deepgram`` in a child process, for notebooks and scripts without a key.

        local = LocalDeepgram(key="demo")           # started; local.url is ws://127.0.0.1:PORT
        os.environ.update(local.environment())      # DEEPGRAM_URL and DEEPGRAM_API_KEY for the engine
        local.stop()
    """

    def __init__(self, key: str = "local-demo-key", port: int = 0, timeout: float = 30.0):
        import socket
        import subprocess
        import sys
        import time

        if port == 0:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
        self.key, self.port, self.url = key, port, f"ws://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [sys.executable, "-m", "stt_notebook.cli", "serve-deepgram", "--port", str(port), "--key", key],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise STTError("serve-deepgram did not start.",
                                   hint="Run `stt-notebook serve-deepgram` in a terminal to see why.") from None
                time.sleep(0.1)

    def __repr__(self) -> str:
        state = "running" if self._process.poll() is None else "stopped"
        return f"<LocalDeepgram {self.url} {state}>"

    def environment(self) -> dict[str, str]:
        return {"DEEPGRAM_URL": self.url, "DEEPGRAM_API_KEY": self.key}

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)
