"""Script calls that share round trips: one batch for every call made while the last was in flight.

With Redis idle a call goes out with the next loop iteration, with whatever else that
iteration called; under load, calls from many generations share a batch. redis-py
spends far more CPU per command than Redis does, and a batch pays most of it once.

On a single Redis the calls go over a connection of the batcher's own (`ReplyPipe`),
where each caller's future is resolved as its reply arrives: no task wakes per batch,
and a call costs packing its command and one future. redis-py's `Pipeline` adds a pool
checkout, a task (`wait_for`) per write and a timer per reply, which cost more than
the publish. A call that fails on a lost connection (or with Redis silent past
`timeout`) is repeated once by the broker's guard, on a new connection: the scripts
are safe to repeat (a publish skips one it already made).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import hiredis
from redis.exceptions import NoScriptError, OutOfMemoryError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import BrokerFull
from .reply_pipe import ReplyPipe

Guard = Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]


class ScriptBatcher:
    """Runs one Lua script for many callers, pipelining the calls that queue up."""

    def __init__(
        self, redis: Any, script: str, guard: Guard, pipelined: bool = True, timeout: float = 10.0,
        name: str = "publish", own_guard: Guard | None = None,
    ) -> None:  # fmt: skip
        """`guard`: the broker's error translation and retry for calls on its pooled connections (a cluster's,
        or fakeredis's); `own_guard`: the same for calls on the batcher's own connection, which take no turn
        at the pool's (default: `guard`)."""
        self.redis = redis
        self.name = name
        self.pipelined = pipelined
        self.timeout = timeout
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()
        self.guard = guard
        self.own_guard = own_guard or guard
        self.pipe: ReplyPipe | None = None  # pipelined: the calls' own connection
        self.connecting: asyncio.Future[ReplyPipe | None] | None = None

    async def open(self) -> None:
        """Connect now rather than on the first call (whose callers would otherwise wait for the connection
        together, and share a batch they would not have shared)."""
        if self.pipelined:
            await self.own_guard(self._pipe)

    async def close(self) -> None:
        if self.connecting is not None:
            self.connecting.cancel()
        if self.pipe is not None:
            self.pipe.close()
            self.pipe = None

    async def call(self, numkeys_and_args: list[Any]) -> Any:
        if not self.pipelined:  # redis-py cannot pipeline EVALSHA on a cluster: one call per slot owner
            return await self.guard(lambda: self._evalsha(numkeys_and_args))
        packed = hiredis.pack_command(("EVALSHA", self.sha, *numkeys_and_args))
        return await self.own_guard(lambda: self._pipelined(packed, numkeys_and_args))

    async def call_many(self, calls: list[list[Any]]) -> list[Any]:
        """Many calls at once: their results in order, an exception in a failed call's place."""
        if self.pipelined:  # sent together, with no task each while the connection holds
            try:
                pipe = await self.own_guard(self._pipe)
            except Exception as exc:
                return [exc] * len(calls)
            if pipe is None:
                return await self.call_many(calls)
            packed = [hiredis.pack_command(("EVALSHA", self.sha, *args)) for args in calls]
            futures = [pipe.send(p) for p in packed]
            results = list(await asyncio.gather(*futures, return_exceptions=True))
            again = [i for i, r in enumerate(results) if isinstance(r, Exception) and not _final(r)]
            if not again:
                return [full_or(r) if isinstance(r, Exception) else r for r in results]
            redone = await asyncio.gather(*(self.call(calls[i]) for i in again), return_exceptions=True)
            for i, result in zip(again, redone, strict=True):
                results[i] = result
            return [full_or(r) if isinstance(r, Exception) else r for r in results]
        return list(await asyncio.gather(*(self.call(args) for args in calls), return_exceptions=True))

    async def _pipelined(self, packed: bytes, args: list[Any]) -> Any:
        pipe = self.pipe
        if pipe is None or not pipe.usable:  # else no coroutine more per call
            pipe = await self._pipe()
        if pipe is None:
            return await self._evalsha(args)
        try:
            return await pipe.send(packed)
        except NoScriptError:  # Redis restarted: load the script, then once more (a publish is not repeated)
            await pipe.send(hiredis.pack_command(("SCRIPT", "LOAD", self.script)))
            return await pipe.send(packed)

    async def _pipe(self) -> ReplyPipe | None:
        """The open connection, or a new one (callers arriving meanwhile share its opening); None when the
        client's connections are not sockets (fakeredis, in tests): then the calls go one by one."""
        if self.pipe is not None and self.pipe.usable:
            return self.pipe
        if self.connecting is None:
            self.connecting = asyncio.ensure_future(self._open())
            self.connecting.add_done_callback(lambda _: setattr(self, "connecting", None))
        return await asyncio.shield(self.connecting)

    async def _open(self) -> ReplyPipe | None:
        if self.pipe is not None:
            self.pipe.close()
        pool = self.redis.connection_pool
        connection = pool.connection_class(**pool.connection_kwargs)
        try:
            async with asyncio.timeout(self.timeout):
                self.pipe = await ReplyPipe.open(connection, self.timeout)
        except TimeoutError:
            await connection.disconnect(nowait=True)
            raise RedisTimeoutError(f"Redis did not answer within {self.timeout:g} s") from None
        if self.pipe is None:
            self.pipelined = False
            await connection.disconnect()
        return self.pipe

    async def _evalsha(self, args: list[Any]) -> Any:
        try:
            return await self.redis.evalsha(self.sha, *args)
        except NoScriptError:
            await self.redis.script_load(self.script)
            return await self.redis.evalsha(self.sha, *args)


def _final(error: BaseException) -> bool:
    """An error reply (the script's own, or out of memory): repeating the call would not change it."""
    return isinstance(error, ResponseError) and not isinstance(error, NoScriptError)


def full_or(exc: BaseException) -> BaseException:
    """Redis's out-of-memory refusal as `BrokerFull`, whichever command or script met it; anything else as is."""
    if isinstance(exc, OutOfMemoryError) or (isinstance(exc, ResponseError) and "OOM command not allowed" in str(exc)):
        full = BrokerFull(f"Redis is out of memory: {exc}")
        full.__cause__ = exc
        return full
    return exc
