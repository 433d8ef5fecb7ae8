"""The connection every Redis role shares: one client (a server's or a cluster's) and one way to call it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .base import BrokerFull, BrokerUnavailable
from .batcher import full_or
from .cluster_pubsub import failing_over

# Commands in flight on pooled connections at once; more wait their turn instead of failing
# with redis-py's "Too many connections" (the batchers and pub/sub have connections of their own).
MAX_CONNECTIONS = 100
# publish.lua renews a session's keys at most once a second: they live a second longer than the ttl, so that
# none expires sooner than the ttl after the session's last event.
RENEWED_EVERY_SECONDS = 1
T = TypeVar("T")


class RedisConnection:
    """`client_class` makes the connections of a single server (the tests run the contracts on fakeredis)."""

    def __init__(
        self, url: str, ttl_seconds: int, cluster: bool = False, client_class: type[redis.Redis] = redis.Redis
    ) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds  # how long a session's keys outlive its last event, at least
        self.session_ttl_seconds = ttl_seconds + RENEWED_EVERY_SECONDS  # the expiry a session's key is given
        self.cluster = cluster
        self.client_class = client_class
        options: dict[str, Any] = {
            "socket_timeout": 10,
            "retry": Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), 3),
            "max_connections": MAX_CONNECTIONS,
        }
        self.pooled = asyncio.Semaphore(MAX_CONNECTIONS)
        self.redis: Any
        if cluster:
            self.redis = RedisCluster.from_url(url, **options)
        else:
            self.redis = client_class.from_url(url, health_check_interval=30, **options)

    async def call(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run a command on a pooled connection, once more after a connection error (`guarded`)."""
        async with self.pooled:
            return await self.guarded(command)

    async def guarded(self, command: Callable[[], Awaitable[T]]) -> T:
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
