from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from relay.demo_upstream import DemoUpstream

from ..services import PostgresDatabase, RedisServer
from .processes import Deployment


@pytest.fixture
async def deployment(redis_server: RedisServer) -> AsyncIterator[Deployment]:
    redis_server.flush()
    database = PostgresDatabase()
    await database.create()
    async with DemoUpstream(chunk_delay=0.003, chunks=400) as upstream:
        deployed = Deployment(redis_server, database, upstream.url)
        await deployed.migrate()
        try:
            yield deployed
        finally:
            await deployed.stop()
            await database.drop()
