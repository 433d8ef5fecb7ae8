"""Coalesced publishes: one round trip for every publish that waited while the last was in flight.

With Redis idle a publish goes out at once, alone; under load, publishes from
many generations share a pipeline. redis-py spends far more CPU per command
than Redis does, and a pipeline pays most of it once per batch.

On a single Redis the batches go over a connection of the batcher's own,
packed by hiredis (redis-py's accelerator) and read reply by reply, with one
deadline per batch (`Silence`: one timer re-armed lazily, not one per batch):
redis-py's `Pipeline` adds a pool checkout, a task (`wait_for`) per write and a
timer per reply, which cost more than the publish.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import hiredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import NoScriptError, OutOfMemoryError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .base import BrokerFull
from .silence import Silence

logger = logging.getLogger(__name__)

MAX_BATCH = 256

Call = tuple[list[Any], asyncio.Future[Any]]


class ScriptBatcher:
    """Runs one Lua script for many callers, pipelining the calls that queue up."""

    def __init__(
        self,
        redis: Any,
        script: str,
        guard: Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]],
        pipelined: bool = True,
        timeout: float = 10.0,
        name: str = "publish",
    ) -> None:
        self.redis = redis
        self.name = name
        self.pipelined = pipelined
        self.timeout = timeout
        self.connection: AbstractConnection | None = None  # pipelined: the batches' own connection
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()
        self.guard = guard  # the broker's error translation and retry
        self.queue: list[Call] = []
        self.wakeup = asyncio.Event()
        self.flusher: asyncio.Task[None] | None = None
        self.deadline: Silence | None = None  # the flusher's, for the batch in flight

    def start(self) -> None:
        if self.flusher is None:
            self.flusher = asyncio.create_task(self._flush_forever(), name=f"{self.name} batcher")

    async def close(self) -> None:
        if self.flusher is not None:
            self.flusher.cancel()
            await asyncio.gather(self.flusher, return_exceptions=True)
        for _, future in self.queue:
            future.cancel()
        if self.connection is not None:
            await self.connection.disconnect()

    async def call(self, numkeys_and_args: list[Any]) -> Any:
        (future,) = self._queue([numkeys_and_args])
        return await future

    async def call_many(self, calls: list[list[Any]]) -> list[Any]:
        """Many calls at once, with no task each: their results in order, an exception in a failed call's place."""
        return list(await asyncio.gather(*self._queue(calls), return_exceptions=True))

    def _queue(self, calls: list[list[Any]]) -> list[asyncio.Future[Any]]:
        self.start()  # on first use, also for a broker that was never started
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in calls]
        self.queue.extend(zip(calls, futures, strict=True))
        self.wakeup.set()
        return futures

    async def _flush_forever(self) -> None:
        with Silence(asyncio.get_running_loop()) as self.deadline:  # one timer for every batch's deadline
            while True:
                await self.wakeup.wait()
                self.wakeup.clear()
                while self.queue:
                    batch, self.queue = self.queue[:MAX_BATCH], self.queue[MAX_BATCH:]
                    await self._run(batch)

    async def _run(self, batch: list[Call]) -> None:
        live = [(args, future) for args, future in batch if not future.done()]  # skip callers that gave up
        try:
            results = await self.guard(lambda: self._execute([args for args, _ in live]))
        except asyncio.CancelledError:
            for _, future in live:
                future.cancel()
            raise
        except Exception as exc:  # every caller hears how its call ended
            results = [exc] * len(live)
        for (_, future), result in zip(live, results, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(full_or(result))
            else:
                future.set_result(result)

    async def _execute(self, calls: list[list[Any]]) -> list[Any]:
        if not self.pipelined:  # redis-py cannot pipeline EVALSHA on a cluster: one call per slot owner
            return list(await asyncio.gather(*(self._evalsha(args) for args in calls)))
        connection = self._connection()
        evalsha = [("EVALSHA", self.sha, *args) for args in calls]
        deadline = self.deadline
        assert deadline is not None  # batches run in the flusher
        deadline.waiting_until(asyncio.get_running_loop().time() + self.timeout)
        try:
            results = await self._round_trip(connection, evalsha)
            if any(isinstance(result, NoScriptError) for result in results):
                # Redis restarted: safe to repeat, publishes are idempotent
                await self._round_trip(connection, [("SCRIPT", "LOAD", self.script)])
                results = await self._round_trip(connection, evalsha)
        except asyncio.CancelledError:
            if not deadline.expired():
                raise
            await connection.disconnect(nowait=True)
            raise RedisTimeoutError(f"Redis did not answer within {self.timeout:g} s") from None
        finally:
            deadline.waiting_until(None)
        return results

    def _connection(self) -> AbstractConnection:
        """The batches' connection, without redis-py's per-command timeouts (a batch has one deadline)."""
        if self.connection is None:
            pool = self.redis.connection_pool
            self.connection = pool.connection_class(**{**pool.connection_kwargs, "socket_timeout": None})
        return self.connection

    @staticmethod
    async def _round_trip(connection: AbstractConnection, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send `commands` at once and read every reply; an error reply is returned in its command's place.

        A broken connection raises (redis-py drops it; the next batch connects again).
        """
        await connection.send_packed_command(
            b"".join([hiredis.pack_command(command) for command in commands]), check_health=False
        )
        results: list[Any] = []
        for _ in commands:
            try:
                results.append(await connection.read_response())
            except ResponseError as exc:
                results.append(exc)
        return results

    async def _evalsha(self, args: list[Any]) -> Any:
        try:
            return await self.redis.evalsha(self.sha, *args)
        except NoScriptError:
            await self.redis.script_load(self.script)
            return await self.redis.evalsha(self.sha, *args)


def full_or(exc: BaseException) -> BaseException:
    """Redis's out-of-memory refusal as `BrokerFull`, whichever command or script met it; anything else as is."""
    if isinstance(exc, OutOfMemoryError) or (isinstance(exc, ResponseError) and "OOM command not allowed" in str(exc)):
        full = BrokerFull(f"Redis is out of memory: {exc}")
        full.__cause__ = exc
        return full
    return exc
