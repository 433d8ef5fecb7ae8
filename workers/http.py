"""The worker's HTTP clients, one connection per generation it may run.

httpx's default pool holds 100 connections: a worker running more generations
than that would make the rest wait for a connection. The pools follow
`WORKER_CONCURRENCY` instead, and that wait is never counted against the
upstream (`providers.sse.post_events` starts the first-byte clock when the
request goes out).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from relay.settings import Settings
from schema.outbound import guarded_client


def pool_limits(concurrency: int) -> httpx.Limits:
    return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)


@asynccontextmanager
async def upstream_clients(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(the client for the operator's upstream, the guarded client for tenant-chosen URLs)."""
    limits = pool_limits(settings.worker_concurrency)
    async with httpx.AsyncClient(limits=limits) as client, guarded_client(settings.outbound_policy, limits) as tenant:
        yield client, tenant
