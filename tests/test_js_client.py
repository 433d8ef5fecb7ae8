"""The JavaScript client (clients/js, npm `streamrelay-client`), tested with `node --test`.

The unit tests (Pacer, markdown, Applier) need nothing else; the session tests
need a real gateway, which this module starts (Redis, PostgreSQL, the demo
upstream, a worker) and hands to them in STREAMRELAY_TEST. The node run must
pass with nothing skipped: a skipped gateway test would hide a missing fixture.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .conftest import BACKENDS
from .node import node_for
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
    node = node_for(CLIENT)
    config = {"url": real_system.url, "tokens": {user: real_system.token(user, t) for user, t in USERS.items()}}
    tests = sorted(str(path.relative_to(CLIENT)) for path in CLIENT.glob("test/*.test.mjs"))
    process = await asyncio.create_subprocess_exec(
        node, "--test", "--test-reporter=tap", *tests,
        cwd=CLIENT, env={**os.environ, "STREAMRELAY_TEST": json.dumps(config)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 240)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    report = output.decode()
    failed = [line for line in report.splitlines() if line.lstrip().startswith("not ok")]
    assert process.returncode == 0 and not failed, "\n".join(failed) + "\n\n" + report[-6000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped|cancelled|todo) (\d+)$", report, re.MULTILINE))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0" and counts.get("cancelled") == "0", counts
    assert int(counts.get("pass", "0")) >= 20, report[-3000:]
