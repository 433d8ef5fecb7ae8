"""The worker's HTTP clients, one connection per generation it may run.

httpx's default pool holds 100 connections: a worker running more generations
than that would make the rest wait for a connection. The pools follow
`WORKER_CONCURRENCY` instead, and that wait is never counted against the
upstream (`providers.upstream.post_events` starts the first-byte clock when the
request goes out). Idle connections are kept for a minute, so that a quiet
worker's next generation does not pay a new TCP and TLS handshake before its
first token (a connection the upstream closed meanwhile is noticed and
replaced by httpcore before it is reused).

Reads without a timeout (the providers keep their own deadlines) skip
httpcore's per-read anyio cancel scope and exception-mapping context manager:
one upstream read per streamed chunk makes that the largest fixed cost of a
chunk on the read side (`bench/README.md`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpcore
import httpx
from httpcore._backends.anyio import AnyIOBackend, AnyIOStream

from relay.settings import Settings
from schema.outbound import guarded_client


class _DirectReads(AnyIOStream):
    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109 (httpcore's interface)
        if timeout is not None:
            return await super().read(max_bytes, timeout)
        try:
            return await self._stream.receive(max_bytes=max_bytes)
        except anyio.EndOfStream:
            return b""
        except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            raise httpcore.ReadError(exc) from exc

    async def start_tls(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        tls = await super().start_tls(*args, **kwargs)
        assert isinstance(tls, AnyIOStream)
        return _DirectReads(tls._stream)


class DirectReadsBackend(AnyIOBackend):
    """httpcore's anyio backend whose streams read without a per-read scope when no timeout is asked for."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await super().connect_tcp(host, port, timeout, local_address, socket_options)
        assert isinstance(stream, AnyIOStream)
        return _DirectReads(stream._stream)


KEEPALIVE_SECONDS = 60.0  # httpx keeps an idle connection 5 s: a new TCP + TLS handshake before most first tokens


def pool_limits(concurrency: int) -> httpx.Limits:
    return httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=KEEPALIVE_SECONDS
    )


def operator_client(limits: httpx.Limits) -> httpx.AsyncClient:
    transport = httpx.AsyncHTTPTransport(limits=limits)
    pool = transport._pool  # a connection pool, or a proxy's (HTTPS_PROXY): both take a network backend
    if isinstance(pool, httpcore.AsyncConnectionPool):
        pool._network_backend = DirectReadsBackend()
    return httpx.AsyncClient(transport=transport)


@asynccontextmanager
async def upstream_clients(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """(the client for the operator's upstream, the guarded client for tenant-chosen URLs)."""
    limits = pool_limits(settings.worker_concurrency)
    async with operator_client(limits) as client, guarded_client(settings.outbound_policy, limits) as tenant:
        yield client, tenant
