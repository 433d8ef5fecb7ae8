"""The job queue on Redis: a stream read by one consumer group; XAUTOCLAIM takes over a silent worker's jobs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from redis.exceptions import ResponseError

from schema import keys

from .jobs import Job, JobQueue
from .redis_connection import RedisConnection

T = TypeVar("T")


class RedisJobs(JobQueue):
    def __init__(self, connection: RedisConnection) -> None:
        self.connection = connection
        self.redis = connection.redis

    async def start(self) -> None:
        await self.connection.call(self._create_group)

    async def _create_group(self) -> None:
        try:
            await self.redis.xgroup_create(keys.JOBS_STREAM, keys.JOBS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(self, fields: dict[str, str]) -> str:
        job_id = await self.connection.call(lambda: self.redis.xadd(keys.JOBS_STREAM, {"job": orjson.dumps(fields)}))
        return job_id.decode()

    async def _on_group(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run a consumer-group command; recreate the group if Redis lost it (restart, FLUSHALL: NOGROUP/UNBLOCKED)."""
        try:
            return await self.connection.call(command)
        except ResponseError as exc:
            if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                raise
            await self.connection.call(self._create_group)
            return await self.connection.call(command)

    async def take(self, consumer: str, count: int, block_seconds: float) -> list[Job]:
        async def read() -> Any:
            return await self.redis.xreadgroup(
                keys.JOBS_GROUP, consumer, {keys.JOBS_STREAM: ">"}, count=count, block=int(block_seconds * 1000)
            )

        answer = await self._on_group(read)
        return [_job(entry_id, fields) for _, entries in answer or [] for entry_id, fields in entries]

    async def ack(self, job_id: str) -> None:
        async def ack_and_delete() -> Any:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.xack(keys.JOBS_STREAM, keys.JOBS_GROUP, job_id)
                pipe.xdel(keys.JOBS_STREAM, job_id)
                return await pipe.execute()

        await self._on_group(ack_and_delete)

    async def keep_alive(self, consumer: str, job_ids: list[str]) -> None:
        if job_ids:
            await self._on_group(
                lambda: self.redis.xclaim(keys.JOBS_STREAM, keys.JOBS_GROUP, consumer, 0, job_ids, justid=True)
            )

    async def take_over(self, consumer: str, min_idle_seconds: float, count: int) -> list[Job]:
        answer = await self._on_group(
            lambda: self.redis.xautoclaim(
                keys.JOBS_STREAM, keys.JOBS_GROUP, consumer, int(min_idle_seconds * 1000), "0-0", count=count
            )
        )
        return [_job(entry_id, fields) for entry_id, fields in answer[1] if fields]

    async def counts(self) -> tuple[int, int]:
        async def counts() -> tuple[int, int]:
            groups = await self.redis.xinfo_groups(keys.JOBS_STREAM)
            for group in groups:
                if group["name"] == keys.JOBS_GROUP.encode():
                    return int(group.get("lag") or 0), int(group["pending"])
            return 0, 0

        try:
            return await self.connection.call(counts)
        except ResponseError:
            return 0, 0


def _job(entry_id: bytes, fields: dict[bytes, bytes]) -> Job:
    return Job(entry_id.decode(), orjson.loads(fields[b"job"]))
