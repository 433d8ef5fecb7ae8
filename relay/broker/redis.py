"""The Redis broker: its roles over one shared connection (`RedisConnection`), and their lifecycle.

A session's keys share one Redis Cluster slot (see `schema.keys`); what differs on a cluster lives in
the roles' Redis implementations and `cluster_pubsub`.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from schema import keys

from .base import Broker
from .documents_redis import RedisDocuments
from .grant_store import Grants
from .limits_redis import RedisLimits
from .presence_redis import RedisPresence
from .redis_connection import RedisConnection
from .redis_jobs import RedisJobs
from .redis_log import RedisEventLog
from .redis_topics import RedisTopics
from .topic_bus import Router


class RedisBroker(Broker):
    def __init__(
        self,
        url: str,
        log_maxlen: int = 2000,
        ttl_seconds: int = 600,
        log_max_bytes: int = 1024 * 1024,
        cluster: bool = False,
        client_class: type[redis.Redis] = redis.Redis,
    ) -> None:
        """`client_class` makes the connections of a single server (the tests run the contracts on fakeredis)."""
        self.connection = RedisConnection(url, ttl_seconds, cluster, client_class)
        self.cluster = cluster
        self.router = Router()
        self.topics = RedisTopics(self.connection, self.router)
        self.event_log = RedisEventLog(self.connection, self.topics, log_maxlen, log_max_bytes)
        self.jobs = RedisJobs(self.connection)
        self.grants = RedisGrants(self.connection)
        self.documents = RedisDocuments(self.connection, self.topics)
        self.presence = RedisPresence(self.connection.redis, self.connection.call, cluster)
        self.limits = RedisLimits(self.connection.redis, self.connection.call, cluster)

    async def start(self) -> None:
        if self.cluster:
            await self.connection.call(self.connection.redis.initialize)
        self.topics.subscriptions.start()
        await self.jobs.start()
        for role in (self.event_log, self.presence, self.limits):  # their batchers' own connections
            await role.open()

    async def close(self) -> None:
        await self.event_log.close()
        await self.presence.close()
        await self.limits.close()
        await self.topics.subscriptions.close()
        await self.connection.redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.connection.redis.ping())
        except (RedisError, OSError):
            return False


class RedisGrants(Grants):
    """A set per session, renewed by every event of the session (`keys.expiring_keys`)."""

    def __init__(self, connection: RedisConnection) -> None:
        self.connection = connection

    async def grant(self, session_id: str, change_id: str) -> bool:
        redis, key, ttl = self.connection.redis, keys.applied_key(session_id), self.connection.session_ttl_seconds

        async def add() -> list[Any]:
            async with redis.pipeline(transaction=True) as pipe:
                pipe.sadd(key, change_id)
                pipe.expire(key, ttl)
                return await pipe.execute()

        added, _ = await self.connection.call(add)
        return added == 1

    async def release(self, session_id: str, change_id: str) -> None:
        key = keys.applied_key(session_id)
        await self.connection.call(lambda: self.connection.redis.srem(key, change_id))
