"""A raw TCP listener that records every byte it receives: the place a secret must never reach.

It answers each request with an error page whose body is a marker, so a test can
also prove the marker never comes back to the user.
"""

from __future__ import annotations

import asyncio

SECRET_BODY = b"internal-endpoint-secret-body"
RESPONSE = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\nconnection: close\r\ncontent-length: "
    + str(len(SECRET_BODY)).encode() + b"\r\n\r\n" + SECRET_BODY
)  # fmt: skip


class Listener:
    """`async with Listener() as listener`: `port`, `connections`, `received` (all bytes, every connection)."""

    def __init__(self, response: bytes = RESPONSE) -> None:
        self.response = response
        self.port = 0
        self.connections = 0
        self.received = b""
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Listener:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.received += head
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            self.received += await reader.readexactly(length)
            writer.write(self.response)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
