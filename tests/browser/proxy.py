"""A TCP proxy between a client and the gateway that a test can cut, stall or hold.

Lets a test break a WebSocket the way networks do (a dropped connection, a
silent one, a server out of reach for a while) without touching the gateway.
"""

from __future__ import annotations

import asyncio


class Proxy:
    """A TCP proxy on a free loopback port that a test can cut, stall or hold."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").rsplit(":", 1)
        self.target = (host, int(port))
        self.links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter, dict[str, bool]]] = []
        self.open = asyncio.Event()
        self.open.set()
        self.accepted = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Proxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.server.close()
        self.cut()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        await self.open.wait()
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        state = {"stalled": False}
        self.links.append((writer, up_writer, state))
        for source, sink, stallable in ((reader, up_writer, False), (up_reader, writer, True)):
            task = asyncio.create_task(self._pump(source, sink, state if stallable else None, (writer, up_writer)))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        state: dict[str, bool] | None,
        ends: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
    ) -> None:
        try:
            while data := await source.read(65536):
                if state is not None and state["stalled"]:
                    continue  # a silent connection: what the server sends is lost
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            for end in ends:
                end.close()

    def cut(self) -> None:
        """Drop every open connection at once, with no WebSocket close frame."""
        for client, upstream, _ in self.links:
            client.transport.abort()
            upstream.transport.abort()
        self.links.clear()

    def stall(self) -> None:
        """Let the open connections go silent towards the client; new connections are not affected."""
        for _, _, state in self.links:
            state["stalled"] = True
