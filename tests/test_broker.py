"""The broker as a whole: a container of roles over one connection (`relay.broker.base`)."""

from __future__ import annotations

import asyncio

from relay.broker.base import Broker

from . import brokers

broker = brokers.broker


async def test_more_calls_at_once_than_the_pool_has_connections_all_succeed(broker: Broker) -> None:
    """A reconnect storm's claims and page writes: each waits for a connection instead of failing with
    "Too many connections" (redis-py's pool holds 100) and being told Redis is unreachable."""
    results = await asyncio.gather(*(broker.grants.grant(f"s{i % 50}", f"c{i}") for i in range(1000)))
    assert results == [True] * 1000
