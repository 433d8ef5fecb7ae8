"""A pipelined Redis connection that resolves each caller's future as its reply arrives.

redis-py connects it (AUTH, SELECT, TLS as the URL says); from then on the socket is
read by a plain asyncio protocol that feeds hiredis and hands every reply to the
future of the command it answers, in the order the commands went out. Commands
queued while replies are outstanding go out together when the last reply arrives
(or with the next loop iteration when none are), so a busy process sends one batch
per round trip; no task, pool checkout or timer is involved per command. One timer
watches every command in flight: when Redis sends nothing for `timeout` seconds
while commands wait, they fail and the connection is dropped.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse
from redis.exceptions import TimeoutError as RedisTimeoutError

from .taken_over import resp_reader, socket_transport


class ReplyPipe(asyncio.Protocol):
    def __init__(self, connection: AbstractConnection, timeout: float) -> None:
        self.connection = connection  # redis-py closes the socket when its connection is collected: kept alive
        self.timeout = timeout
        self.loop = asyncio.get_running_loop()
        self.reader = resp_reader(connection)
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future[Any]] = deque()  # sent and queued, in order
        self.outstanding = 0  # of `waiting`, how many went out (the first ones)
        self.queued: list[bytes] = []  # packed, not yet sent
        self.flush_soon: asyncio.Handle | None = None
        self.heard = 0.0  # loop time of the last reply, or of a send that found nothing outstanding
        self.watch: asyncio.TimerHandle | None = None
        self.lost: BaseException | None = None

    @classmethod
    async def open(cls, connection: AbstractConnection, silence_limit: float) -> ReplyPipe | None:
        """`connection`, connected by redis-py, taken over by a new pipe; None if it is not a socket."""
        await connection.connect()
        transport = socket_transport(connection)
        if transport is None:
            return None
        pipe = cls(connection, silence_limit)
        transport.set_protocol(pipe)
        pipe.transport = transport
        return pipe

    @property
    def usable(self) -> bool:
        return self.lost is None and self.transport is not None and not self.transport.is_closing()

    def send(self, packed: bytes) -> asyncio.Future[Any]:
        """Queue one packed command; its future gets the reply (an error reply as its exception)."""
        if not self.usable:
            raise RedisConnectionError(f"Connection to Redis lost: {self.lost}" if self.lost else "Not connected")
        future = self.loop.create_future()
        self.waiting.append(future)
        self.queued.append(packed)
        if self.outstanding == 0 and self.flush_soon is None:
            self.flush_soon = self.loop.call_soon(self._flush)  # with what else this iteration queues
        return future

    def close(self) -> None:
        """Close the socket (not through redis-py, whose stream no longer reads it)."""
        if self.transport is not None:
            self.transport.close()
        self._fail(RedisConnectionError("Connection to Redis closed"))

    def _flush(self) -> None:
        self.flush_soon = None
        if not self.queued or self.transport is None:
            return
        if self.outstanding == 0:
            self.heard = self.loop.time()
        self.outstanding += len(self.queued)
        data, self.queued = b"".join(self.queued), []
        self.transport.write(data)
        if self.watch is None:
            self.watch = self.loop.call_at(self.heard + self.timeout, self._check)

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        while (reply := self.reader.gets()) is not False:
            self.heard = self.loop.time()
            if not self.waiting or self.outstanding == 0:
                self._drop(InvalidResponse("Redis sent a reply nobody asked for"))
                return
            future = self.waiting.popleft()
            self.outstanding -= 1
            if future.done():
                continue  # its caller gave up
            if isinstance(reply, Exception):
                future.set_exception(reply)
            else:
                future.set_result(reply)
        if self.outstanding == 0 and self.queued:
            self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(RedisConnectionError(f"Connection to Redis lost: {exc or 'closed by the server'}"))

    def _check(self) -> None:
        self.watch = None
        if self.outstanding == 0:
            return
        due = self.heard + self.timeout
        if self.loop.time() < due:
            self.watch = self.loop.call_at(due, self._check)
            return
        self._drop(RedisTimeoutError(f"Redis did not answer within {self.timeout:g} s"))

    def _drop(self, error: BaseException) -> None:
        self._fail(error)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: BaseException) -> None:
        if self.lost is None:
            self.lost = error
        if self.watch is not None:
            self.watch.cancel()
            self.watch = None
        if self.flush_soon is not None:
            self.flush_soon.cancel()
            self.flush_soon = None
        waiting, self.waiting, self.queued, self.outstanding = self.waiting, deque(), [], 0
        for future in waiting:
            if not future.done():
                future.set_exception(self.lost)
