"""Deepgram for the engine's tests, run as processes: ``python -m tests.deepgram_servers MODE PORT``.

plain: the real ``stt-notebook serve-deepgram``. Deepgram's cloud cannot be reached here, so its
faults are played by a small websockets server speaking the real protocol (the project's own
/v1/listen codec on the one host adapter): busy refuses every upgrade 429 with Retry-After; flaky closes the
first connection 1011 once 5 s of audio arrived and serves later ones normally.
"""

import asyncio
import json
import uuid
from http import HTTPStatus
from urllib.parse import parse_qsl, urlsplit

from stt_notebook.errors import STTError
from stt_notebook.session import Session
from stt_notebook.wire.connection import Limits
from stt_notebook.wire.listen import ListenCodec, authorized, refusal
from stt_notebook.wire.offer import stream_for
from stt_notebook.wire.runner import Host, Link
from stt_notebook.wire.vocabulary import Start
KEY = "dg-test-key-4f1c"


class StandIn:
    """Deepgram's /v1/listen on plain websockets, for playing the cloud's faults (subclasses)."""

    def __init__(self, key: str, idle_timeout: float = 10.0):
        self.key = key
        self.host = Host(Limits(idle_timeout=idle_timeout),
                         lambda start: Session(start.config.language, engine=start.engine, config=start.config))

    def _refuse(self, connection, status: HTTPStatus, code: str, message: str, request_id: str):
        body = json.dumps(refusal(code, message, request_id))
        response = connection.respond(status, body + "\n")
        response.headers["dg-request-id"] = request_id
        response.headers["dg-error"] = body
        return response

    async def _process_request(self, connection, request):
        request_id = connection.dg_request_id = str(uuid.uuid4())
        ok, _ = authorized({k.lower(): v for k, v in request.headers.raw_items()}, self.key)
        if not ok:
            return self._refuse(connection, HTTPStatus.UNAUTHORIZED, "INVALID_AUTH", "Invalid credentials.", request_id)
        try:
            query = parse_qsl(urlsplit(request.path).query, keep_blank_values=True)
            connection.dg_config, connection.dg_engine = stream_for(query, "auto", allow_cloud=False)
        except STTError as e:
            return self._refuse(connection, HTTPStatus.BAD_REQUEST, "Bad Request", str(e), request_id)
        return None

    async def _handle(self, connection) -> None:
        config = connection.dg_config
        link = Link(self.host, ListenCodec(config, connection.dg_request_id),
                    lambda message: connection.send(json.dumps(message, ensure_ascii=False)), connection.close,
                    one_session=True)
        link.command(Start(connection.dg_engine, None, config.with_options(sample_rate=16000)))
        await link.serve(connection)

    async def serve(self, host: str, port: int) -> None:
        import websockets

        async with websockets.serve(self._handle, host, port, process_request=self._process_request):
            await asyncio.Future()


class Busy(StandIn):
    async def _process_request(self, connection, request):
        response = connection.respond(429, '{"err_code":"TOO_MANY_REQUESTS","err_msg":"Too many requests"}')
        response.headers["Retry-After"] = "3"
        response.headers["dg-request-id"] = "r-429"
        return response


class Flaky(StandIn):
    connections = 0

    async def _handle(self, connection):
        Flaky.connections += 1
        if Flaky.connections > 1:
            return await super()._handle(connection)
        got = 0
        async for message in connection:
            if isinstance(message, bytes):
                got += len(message)
                if got >= 5 * 32000:
                    print(f"dropped first connection after {got} bytes", flush=True)
                    await connection.close(1011, "NET-0000")
                    return


if __name__ == "__main__":
    import sys

    mode, port = sys.argv[1], int(sys.argv[2])
    print("ready", flush=True)
    if mode == "plain":
        from stt_notebook.cli import main

        sys.exit(main(["serve-deepgram", "--port", str(port), "--key", KEY, "--idle-timeout", "6.5"]))
    server = {"busy": Busy, "flaky": Flaky}[mode](key=KEY, idle_timeout=6.5)
    asyncio.run(server.serve("127.0.0.1", port))
