"""One Redis pub/sub connection read without a task: each pushed message handed on as it is parsed.

redis-py connects it (AUTH, SELECT, TLS as the URL says); from then on the socket is
read by a plain asyncio protocol that feeds hiredis and calls `on_message` for each
message from `data_received` itself. redis-py's `PubSub.get_message` woke a task per
message and built a dict for it, the gateway's largest cost per delivered event.
Commands are written straight to the socket: on a subscribed connection Redis answers
them with pushes of their own (a confirmation, `pong`), which this reads like the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any, cast

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from .taken_over import resp_reader, socket_transport


class PushReader(asyncio.Protocol):
    """Hands each message to `on_message(channel, data)`, each confirmation of a subscription to
    `on_confirmed(channel)`, and each unsubscribe's push (ours, or the server's own) to
    `on_other(kind, channel)`. `closed` gets why the connection ended: lost, an error reply (Redis
    refused a command), what is not RESP, a handler's exception, or `close()`; nothing is read after."""

    def __init__(
        self,
        connection: AbstractConnection,
        on_message: Callable[[str, bytes], None],
        on_confirmed: Callable[[str], None],
        on_other: Callable[[str, str], None],
        kinds: tuple[str, str],
    ) -> None:
        """`kinds`: the pushes that deliver and that confirm ("message", "subscribe"; sharded, "smessage",
        "ssubscribe")."""
        self.connection = connection  # redis-py closes the socket when its connection is collected: kept alive
        self.loop = asyncio.get_running_loop()
        self.reader = resp_reader(connection)
        self.on_message = on_message
        self.on_confirmed = on_confirmed
        self.on_other = on_other
        self.message_kind, self.confirm_kind = (kind.encode() for kind in kinds)
        self.transport: asyncio.Transport | None = None
        self.pump: asyncio.Task[None] | None = None
        self.heard = self.loop.time()  # loop time of the last bytes Redis sent
        self.closed: asyncio.Future[BaseException] = self.loop.create_future()

    @classmethod
    async def open(cls, connection: AbstractConnection, *args: Any) -> PushReader:
        """`connection` connected by redis-py and taken over (the rest of `args` as the constructor's)."""
        try:
            await connection.connect()
        except BaseException:
            with contextlib.suppress(RedisError, OSError):  # what failed is what to tell
                await connection.disconnect(nowait=True)
            raise
        pushes = cls(connection, *args)
        transport = socket_transport(connection)
        if transport is None:  # not a socket (fakeredis, in tests): redis-py parses, a task hands over
            pushes.pump = asyncio.create_task(pushes._pump(), name="pub/sub replies")
        else:
            pushes.transport = transport
            transport.set_protocol(pushes)
        return pushes

    def send(self, *commands: Sequence[str]) -> None:
        """Write commands, in one write; if the connection cannot take them, it is closed (`closed` says why)."""
        if self.closed.done():
            return
        try:
            data = b"".join(self.connection.pack_commands(commands))
            if self.transport is not None:
                self.transport.write(data)
            else:
                cast(Any, self.connection._writer).writelines([data])
        except (RedisError, OSError) as exc:
            self._end(exc)

    async def close(self) -> None:
        self._end(RedisConnectionError("Connection to Redis closed"))
        if self.pump is not None:
            await asyncio.gather(self.pump, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            await self.connection.disconnect(nowait=True)  # not waiting for its stream, which no longer reads

    def data_received(self, data: bytes) -> None:
        self.heard = self.loop.time()
        self.reader.feed(data)
        try:
            while (reply := self.reader.gets()) is not False:
                self._handle(reply)
        except Exception as exc:  # not RESP, an error reply, or a handler's failure: start over on a new connection
            self._end(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(RedisConnectionError(f"Connection to Redis lost: {exc or 'closed by the server'}"))

    def _handle(self, reply: Any) -> None:
        """A RESP2 array or a RESP3 push (a list either way); other pushes (a pong) are only heard."""
        if isinstance(reply, list):
            kind = reply[0]
            if kind == self.message_kind:
                self.on_message(reply[1].decode(), reply[2])
            elif kind == self.confirm_kind:
                self.on_confirmed(reply[1].decode())
            elif kind.endswith(b"unsubscribe") and reply[1] is not None:
                self.on_other(kind.decode(), reply[1].decode())
        elif isinstance(reply, Exception):
            raise reply

    async def _pump(self) -> None:
        try:
            while (reply := await self.connection.read_response(disable_decoding=True)) is not None:
                self.heard = self.loop.time()
                self._handle(reply)
            raise RedisConnectionError("Connection to Redis closed")
        except Exception as exc:
            self._end(exc)

    def _end(self, reason: BaseException) -> None:
        if self.closed.done():
            return
        self.closed.set_result(reason)
        if self.transport is not None:
            self.transport.abort()
        if self.pump is not None and self.pump is not asyncio.current_task():
            self.pump.cancel()
