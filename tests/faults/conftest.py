"""Whole systems whose worker talks to a misbehaving upstream, shared by a module's tests.

A module that uses these fixtures runs its tests in one event loop
(`pytestmark = pytest.mark.asyncio(loop_scope="module")`), so that one system per
backend serves all of them; each test opens its own chat session.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from ..conftest import BACKENDS
from ..services import PostgresDatabase, free_port
from ..system import Backend, System
from .upstreams import Script, ScriptedUpstream, counting

ENDLESS = "Keep talking until I stop you."
BRIEF = "Answer in three chunks."
REFUSED_PORT = free_port()  # nothing listens there; tenants may point at it (TENANT_ALLOWED_HOSTS)
TIMEOUTS = {"upstream_first_byte_timeout": 1.0, "upstream_idle_timeout": 1.0, "request_read_timeout_seconds": 1.0}


class FaultySystem(System):
    """A whole system (gateway, worker) whose worker calls `upstream_url` instead of the demo upstream."""

    def __init__(self, backend: Backend, upstream_url: str, **overrides: Any) -> None:
        super().__init__(backend, upstream_url=upstream_url, **overrides)


@contextlib.asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    database = PostgresDatabase()
    await database.create()
    try:
        yield database.url
    finally:
        await database.drop()


@contextlib.asynccontextmanager
async def module_backend(request: pytest.FixtureRequest, directory: Path) -> AsyncIterator[Backend]:
    if request.param == "memory-sqlite":
        yield Backend(request.param, None, f"sqlite+aiosqlite:///{directory}/streamrelay.db")
        return
    redis_server = request.getfixturevalue("redis_server")
    redis_server.flush()
    async with postgres_database() as url:
        yield Backend(request.param, redis_server.url, url)


@pytest.fixture(scope="module")
def scripts() -> Mapping[str, Script]:
    """What the upstream answers, by question; modules add their own."""
    return {ENDLESS: counting(every=0.05), BRIEF: counting(every=0.01, chunks=3)}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def upstream(scripts: Mapping[str, Script]) -> AsyncIterator[ScriptedUpstream]:
    async with ScriptedUpstream(scripts) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def faulty(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, upstream: ScriptedUpstream
) -> AsyncIterator[FaultySystem]:
    """One system per backend for the whole module, with short upstream timeouts."""
    async with (
        module_backend(request, tmp_path_factory.mktemp("faults")) as backend,
        FaultySystem(backend, upstream.url, tenant_allowed_hosts=f"127.0.0.1:{REFUSED_PORT}", **TIMEOUTS) as system,
    ):
        yield system


@pytest_asyncio.fixture(loop_scope="module")
async def postgres() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url
