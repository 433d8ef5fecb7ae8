from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from schema.db import create_engine, session_factory
from schema.migrate import upgrade

from .services import PostgresCluster, PostgresDatabase, RedisCluster, RedisServer
from .system import Backend, System

BACKENDS = ["memory-sqlite", "redis-postgres"]
CLUSTER = "cluster-postgres"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test using `backend` runs on each backend; modules with `RUN_ON_CLUSTER = True` on Redis Cluster too."""
    if "backend" in metafunc.fixturenames:
        backends = BACKENDS + ([CLUSTER] if getattr(metafunc.module, "RUN_ON_CLUSTER", False) else [])
        metafunc.parametrize("backend", backends, indirect=True)


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


@pytest.fixture
async def migrated(backend: Backend) -> AsyncIterator[AsyncEngine]:
    """The backend's database migrated to the newest schema; its engine is disposed of afterwards."""
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sql(migrated: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """The migrated database's session factory, as the gateway and workers make it."""
    return session_factory(migrated)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server of the tests' own, which a test may stop and start (start it again when done)."""
    server = PostgresCluster()
    server.init()
    server.start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster()
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
async def backend(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Backend]:
    """The embedded defaults (in-memory broker, SQLite), the real ones (Redis, PostgreSQL), or Redis Cluster."""
    if request.param == "memory-sqlite":
        yield Backend(request.param, None, f"sqlite+aiosqlite:///{tmp_path}/streamrelay.db")
        return
    redis = request.getfixturevalue("redis_cluster" if request.param == CLUSTER else "redis_server")
    redis.flush()
    database = PostgresDatabase()
    await database.create()
    yield Backend(request.param, redis.url, database.url, cluster=request.param == CLUSTER)
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
