"""The Redis broker: Lua for atomic publish, pub/sub for live events, a stream for jobs.

On Redis Cluster a session's keys and its channel share one slot (the
`{ai_session:<id>}` hash tag), the publish script uses SPUBLISH, and gateways
subscribe with SSUBSCRIBE on the node that owns the slot.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from schema import events, keys

from .base import Broker, BrokerFull, BrokerUnavailable
from .batcher import ScriptBatcher, full_or
from .cluster_pubsub import ClusterSubscriptions, failing_over
from .documents_redis import RedisDocuments
from .jobs import Job
from .limits_redis import RedisLimits
from .log import Position, Publication, Snapshot, new_epoch
from .position import SCRIPT as POSITION_SCRIPT
from .position import decode_reply, script_args
from .presence_redis import RedisPresence
from .pubsub import Subscriptions

PUBLISH_SCRIPT = (Path(__file__).with_name("publish.lua")).read_text()
# Commands in flight on pooled connections at once; more wait their turn instead of failing
# with redis-py's "Too many connections" (the batchers and pub/sub have connections of their own).
MAX_CONNECTIONS = 100
T = TypeVar("T")


class RedisBroker(RedisDocuments, Broker):
    def __init__(
        self,
        url: str,
        log_maxlen: int = 2000,
        ttl_seconds: int = 600,
        log_max_bytes: int = 1024 * 1024,
        cluster: bool = False,
        client_class: type[redis.Redis] = redis.Redis,
    ) -> None:
        """`client_class` makes the connections of a single server (the tests run the contract on fakeredis)."""
        self.url = url
        self.log_maxlen = log_maxlen
        self.ttl_seconds = ttl_seconds
        self.log_max_bytes = log_max_bytes
        self.cluster = cluster
        options: dict[str, Any] = {
            "socket_timeout": 10,
            "retry": Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), 3),
            "max_connections": MAX_CONNECTIONS,
        }
        self.pooled = asyncio.Semaphore(MAX_CONNECTIONS)
        self.redis: Any
        self.subscriptions: Subscriptions | ClusterSubscriptions
        if cluster:
            self.redis = RedisCluster.from_url(url, **options)
            self.subscriptions = ClusterSubscriptions(
                self.redis,
                self._deliver,
                self._resubscribed,
                broadcast_topics=frozenset({keys.STOP_TOPIC, keys.SETTINGS_TOPIC}),
            )
        else:
            self.redis = client_class.from_url(url, health_check_interval=30, **options)
            self.subscriptions = Subscriptions(url, self._deliver, self._resubscribed, client_class=client_class)
        self.publishes = ScriptBatcher(self.redis, PUBLISH_SCRIPT, self._call, not cluster, own_guard=self._guarded)
        self.positions = ScriptBatcher(self.redis, POSITION_SCRIPT, self._call, not cluster, name="position",
                                       own_guard=self._guarded)  # fmt: skip
        self.presence = RedisPresence(self.redis, self._call, cluster)
        self.limits = RedisLimits(self.redis, self._call, cluster)

    # lifecycle

    async def start(self) -> None:
        if self.cluster:
            await self._call(self.redis.initialize)
        self.subscriptions.start()
        await self._call(self._create_group)
        for batcher in (self.publishes, self.positions, self.presence.calls, self.limits.calls):
            await batcher.open()

    async def close(self) -> None:
        await self.publishes.close()
        await self.positions.close()
        await self.presence.close()
        await self.limits.close()
        await self.subscriptions.close()
        await self.redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run a command on a pooled connection, once more after a connection error (`_guarded`)."""
        async with self.pooled:
            return await self._guarded(command)

    async def _guarded(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run a command, once more after a connection error (a connection Redis dropped).

        Every command here is safe to repeat: the publish script skips a publish it already did.
        """
        try:
            try:
                return await command()
            except (ConnectionError, RedisConnectionError, RedisTimeoutError, ResponseError) as exc:
                if isinstance(exc, ResponseError) and not failing_over(exc):
                    raise
                await asyncio.sleep(0.05)
                if self.cluster:  # a failover may have moved slots: read the cluster's map again
                    await self.redis.nodes_manager.initialize()
                return await command()
        except (RedisError, RedisClusterException, OSError) as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from exc  # redis-py may turn a cancellation into a connection error
            if isinstance(full := full_or(exc), BrokerFull):
                raise full from exc
            if isinstance(exc, ResponseError) and not failing_over(exc):
                raise
            raise BrokerUnavailable(f"Redis is unreachable: {exc}") from exc

    # events

    async def _publish(self, session_id: str, publication: Publication) -> tuple[int, str] | str:
        args = [
            keys.topic(session_id),
            publication.entry,
            new_epoch(),
            self.log_maxlen,
            self.ttl_seconds,
            publication.op,
            publication.message_id,
            publication.value,
            "s" if self.cluster else "p",
            publication.publish_id,
            "1" if publication.page else "0",
            publication.lease,
            publication.fence,
            events.entry_event(publication.entry),
            self.log_max_bytes,
        ]
        session_keys = [*keys.session_keys(session_id), *keys.expiring_keys(session_id)]
        seq, epoch = await self.publishes.call([len(session_keys), *session_keys, *args])
        return (int(seq), epoch.decode()) if seq else epoch.decode()  # else the refusal

    async def snapshot(self, session_id: str, start: bool = True) -> Snapshot:
        return (await self._position(session_id, None, start, page=False)).snapshot

    async def position(self, session_id: str, since: tuple[str, int] | None, start: bool = False) -> Position:
        return await self._position(session_id, since, start, page=True)

    async def _position(self, session_id: str, since: tuple[str, int] | None, start: bool, page: bool) -> Position:
        args = script_args(session_id, since, new_epoch() if start else "", self.ttl_seconds, page)
        return decode_reply(await self.positions.call(args))

    async def store_page(self, session_id: str, data: bytes) -> None:
        await self._call(lambda: self.redis.set(keys.page_key(session_id), data, ex=self.ttl_seconds))

    async def grant(self, session_id: str, change_id: str) -> bool:
        async def add() -> list[Any]:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.sadd(keys.applied_key(session_id), change_id)
                pipe.expire(keys.applied_key(session_id), self.ttl_seconds)
                return await pipe.execute()

        added, _ = await self._call(add)
        return added == 1

    async def release(self, session_id: str, change_id: str) -> None:
        await self._call(lambda: self.redis.srem(keys.applied_key(session_id), change_id))

    # subscriptions

    async def subscribe(self, topic: str) -> None:
        await self.subscriptions.subscribe(topic)

    async def unsubscribe(self, topic: str) -> None:
        await self.subscriptions.unsubscribe(topic)

    # stopping generations

    async def request_stop(self, message_id: str) -> None:
        # The key first: a worker that misses the announcement finds it when it starts.
        await self._call(lambda: self.redis.set(keys.stop_key(message_id), 1, ex=self.ttl_seconds))
        await self._call(lambda: self.redis.publish(keys.STOP_TOPIC, message_id))

    async def stop_requested(self, message_id: str) -> bool:
        return bool(await self._call(lambda: self.redis.exists(keys.stop_key(message_id))))

    async def settings_changed(self, tenant_id: str) -> None:
        await self._call(lambda: self.redis.publish(keys.SETTINGS_TOPIC, tenant_id))

    # jobs

    async def _create_group(self) -> None:
        try:
            await self.redis.xgroup_create(keys.JOBS_STREAM, keys.JOBS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def enqueue(self, fields: dict[str, str]) -> str:
        job_id = await self._call(lambda: self.redis.xadd(keys.JOBS_STREAM, {"job": orjson.dumps(fields)}))
        return job_id.decode()

    async def _on_group(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run a consumer-group command; recreate the group if Redis lost it (restart, FLUSHALL: NOGROUP/UNBLOCKED)."""
        try:
            return await self._call(command)
        except ResponseError as exc:
            if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                raise
            await self._call(self._create_group)
            return await self._call(command)

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
            return await self._call(counts)
        except ResponseError:
            return 0, 0


def _job(entry_id: bytes, fields: dict[bytes, bytes]) -> Job:
    return Job(entry_id.decode(), orjson.loads(fields[b"job"]))
