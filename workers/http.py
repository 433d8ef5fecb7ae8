"""The worker's HTTP clients, one connection per generation it may run.

httpx's default pool holds 100 connections: a worker running more generations
than that would make the rest wait for a connection. The pools follow
`WORKER_CONCURRENCY` instead, and that wait is never counted against the
upstream (`providers.upstream.post_events` starts the first-byte clock when the
request goes out). Idle connections are kept for a minute, so that a quiet
worker's next generation does not pay a new TCP and TLS handshake before its
first token (a connection the upstream closed meanwhile is noticed and
replaced by httpcore before it is reused).

Both clients connect through `schema.network.ProtocolBackend`: a stream on a plain
asyncio protocol that keeps reading into a buffer, where httpcore's anyio stream
resumes and pauses the socket around every read — one read per streamed chunk
makes that the largest fixed cost of a chunk on the read side (`bench/README.md`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpcore
import httpx

from relay.settings import Settings
from schema.network import ProtocolBackend
from schema.outbound import guarded_client

KEEPALIVE_SECONDS = 60.0  # httpx keeps an idle connection 5 s: a new TCP + TLS handshake before most first tokens


def pool_limits(concurrency: int) -> httpx.Limits:
    return httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=KEEPALIVE_SECONDS
    )


def operator_client(limits: httpx.Limits) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = transport._pool  # a connection pool, or a proxy's (HTTPS_PROXY): both take a network backend
    if isinstance(pool, httpcore.AsyncConnectionPool):
        pool._network_backend = ProtocolBackend()
    return httpx.AsyncClient(transport=transport)


@asynccontextmanager
async def upstream_clients(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(the client for the operator's upstream, the guarded client for tenant-chosen URLs)."""
    limits = pool_limits(settings.worker_concurrency)
    anyio.Event()  # httpcore's locks import anyio's asyncio backend on first use: at start, not in the first job
    async with operator_client(limits) as client, guarded_client(settings.outbound_policy, limits) as tenant:
        yield client, tenant
