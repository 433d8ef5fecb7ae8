"""A server that speaks just enough Redis for a pub/sub client, so that a test scripts what "Redis" sends.

It answers the connection's handshake and PING, confirms (S)SUBSCRIBE unless told not to, and
otherwise sends what the test writes: garbage, a message split into many writes, many messages
in one write, or nothing at all.
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import cast

import hiredis


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def push(kind: bytes, channel: bytes, data: bytes | int) -> bytes:
    """A pushed reply: a message (`data` bytes) or a (un)subscribe confirmation (`data` the count)."""
    last = b":%d\r\n" % data if isinstance(data, int) else bulk(data)
    return b"*3\r\n" + bulk(kind) + bulk(channel) + last


class Peer:
    """One client connection; `commands` as received, each a list of bytes."""

    def __init__(self, server: ScriptedRedis, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.commands: list[list[bytes]] = []
        self.arrived = asyncio.Event()
        self.confirming = server.confirming
        self.answering = True  # False: silent from now on, the socket left open (a frozen host)
        self.subscribed: set[bytes] = set()

    def write(self, data: bytes) -> None:
        self.writer.write(data)

    async def command(self, name: bytes) -> list[bytes]:
        """The first command `name` this connection received (waiting for it)."""
        async with asyncio.timeout(10):
            while True:
                for command in self.commands:
                    if command[0].upper() == name:
                        return command
                self.arrived.clear()
                await self.arrived.wait()

    def answer(self, command: list[bytes]) -> None:
        if not self.answering:
            return
        name = command[0].upper()
        if name in (b"SUBSCRIBE", b"SSUBSCRIBE") and self.confirming:
            for channel in command[1:]:
                self.subscribed.add(channel)
                self.write(push(name.lower(), channel, len(self.subscribed)))
        elif name == b"PING":
            self.write(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n" if self.subscribed else b"+PONG\r\n")
        elif name not in (b"SUBSCRIBE", b"SSUBSCRIBE"):
            self.write(b"+OK\r\n")


class ScriptedRedis:
    """Use as `async with ScriptedRedis() as server`; `peers` get each connection as it arrives."""

    def __init__(self, confirming: bool = True) -> None:
        self.confirming = confirming  # False: the test confirms subscriptions itself
        self.peers: asyncio.Queue[Peer] = asyncio.Queue()
        self.serving: list[tuple[Peer, asyncio.Task[None]]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def __aenter__(self) -> ScriptedRedis:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        assert self.server is not None
        self.server.close()
        for peer, _ in self.serving:
            peer.writer.close()
        await asyncio.wait_for(asyncio.gather(*(task for _, task in self.serving), return_exceptions=True), 5)

    async def next_peer(self) -> Peer:
        return await asyncio.wait_for(self.peers.get(), 10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(self, writer)
        self.peers.put_nowait(peer)
        self.serving.append((peer, cast(asyncio.Task[None], asyncio.current_task())))
        parser = hiredis.Reader()
        try:
            while data := await reader.read(65536):
                parser.feed(data)
                while (command := parser.gets()) is not False:
                    peer.commands.append(command)
                    peer.arrived.set()
                    peer.answer(command)
        except ConnectionError:
            pass
        finally:
            writer.close()
