"""The JavaScript client (clients/js, npm `streamrelay-client`), tested with `node --test`.

The unit tests (Applier, Position, the types) need nothing else; the session tests
need a real gateway, which this module starts (Redis, PostgreSQL, the demo
upstream, a worker) and hands to them in STREAMRELAY_TEST. The node run must
pass with nothing skipped: a skipped gateway test would hide a missing fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .conftest import BACKENDS
from .node import run_node_tests
from .services import PostgresDatabase, RedisServer
from .system import Backend, System

CLIENT = Path(__file__).parent.parent / "clients" / "js"
USERS = {"alice": "acme", "bob": "acme", "carol": "acme", "dave": "acme", "erin": "acme", "mallory": "other"}
assert "redis-postgres" in BACKENDS


@pytest.fixture
async def real_system(redis_server: RedisServer) -> AsyncIterator[System]:
    """A whole system on Redis and PostgreSQL (the JS tests run once, on the production backends)."""
    redis_server.flush()
    database = PostgresDatabase()
    await database.create()
    try:
        async with System(Backend("redis-postgres", redis_server.url, database.url)) as system:
            for tenant in set(USERS.values()):
                await system.enable_assistant(tenant)
            yield system
    finally:
        await database.drop()


async def test_js_client_passes_its_node_tests_against_a_real_gateway(real_system: System) -> None:
    config = {"url": real_system.url, "tokens": {user: real_system.token(user, t) for user, t in USERS.items()}}
    tests = sorted(str(path.relative_to(CLIENT)) for path in CLIENT.glob("test/*.test.mjs"))
    await run_node_tests(CLIENT, tests, config, minimum=20)
