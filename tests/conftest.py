from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from .services import PostgresDatabase, RedisServer
from .system import Backend, System

BACKENDS = ["memory-sqlite", "redis-postgres"]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    database = PostgresDatabase()
    await database.create()
    yield database.url
    await database.drop()


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Backend]:
    """The embedded defaults (in-memory broker, SQLite) and the real ones (Redis, PostgreSQL)."""
    if request.param == "memory-sqlite":
        yield Backend(request.param, None, f"sqlite+aiosqlite:///{tmp_path}/streamrelay.db")
        return
    redis_server = request.getfixturevalue("redis_server")
    redis_server.flush()
    database = PostgresDatabase()
    await database.create()
    yield Backend(request.param, redis_server.url, database.url)
    await database.drop()


@pytest.fixture
async def system(backend: Backend) -> AsyncIterator[System]:
    async with System(backend) as running:
        yield running


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, free to stop and restart."""
    server = RedisServer()
    server.start()
    yield server
    server.stop()
