"""serve-deepgram variants for the engine's tests, run as processes: ``python -m tests.deepgram_servers MODE PORT``.

plain: the real serve-deepgram; busy: every upgrade refused 429 with Retry-After; flaky: the first
connection is closed 1011 once 5 s of audio arrived, later ones are served normally.
"""

import asyncio
import sys

from stt_notebook.deepgram_server import DeepgramCompatServer

KEY = "dg-test-key-4f1c"


class Busy(DeepgramCompatServer):
    async def _process_request(self, connection, request):
        response = connection.respond(429, '{"err_code":"TOO_MANY_REQUESTS","err_msg":"Too many requests"}')
        response.headers["Retry-After"] = "3"
        response.headers["dg-request-id"] = "r-429"
        return response


class Flaky(DeepgramCompatServer):
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
    mode, port = sys.argv[1], int(sys.argv[2])
    server = {"plain": DeepgramCompatServer, "busy": Busy, "flaky": Flaky}[mode](key=KEY, idle_timeout=6.5)
    print("ready", flush=True)
    asyncio.run(server.serve("127.0.0.1", port))
