"""The SQL engine's settings (`schema.db`): what a SQLite connection costs on its way back to the pool."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import aiosqlite.core
import pytest
from sqlalchemy import Connection, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema.db import create_engine, in_transaction
from schema.models import Base, Tenant, utcnow


@pytest.fixture
async def sqlite_file(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path}/streamrelay.db"
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    await engine.dispose()
    return url


async def test_a_sqlite_connection_back_from_a_commit_is_not_handed_to_aiosqlites_thread_to_roll_back(
    sqlite_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pool's reset rolled back after every commit (and after a session's own rollback), each a hand-over
    to aiosqlite's thread and back for nothing."""
    calls: list[str] = []
    handed_over = aiosqlite.core.Connection._execute

    async def counted(self: Any, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn.__name__)
        return await handed_over(self, fn, *args, **kwargs)

    engine = create_engine(sqlite_file, connections=1)
    try:
        async with engine.connect() as connection:
            await connection.scalar(select(Tenant.id))  # the connection opened (its pragmas) before counting
        monkeypatch.setattr(aiosqlite.core.Connection, "_execute", counted)
        async with engine.begin() as connection:
            await connection.execute(Tenant.__table__.insert().values(id="acme", settings={}, created_at=utcnow()))
    finally:
        await engine.dispose()
    assert "commit" in calls and "rollback" not in calls, calls


async def test_a_sqlite_connection_back_with_a_transaction_open_is_rolled_back(sqlite_file: str) -> None:
    """A transaction SQLAlchemy does not know of (begun by the driver itself) still ends on the way back."""
    engine = create_engine(sqlite_file, connections=1)  # one connection: the next checkout gets the same one
    try:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            await raw.driver_connection.execute("INSERT INTO tenants VALUES ('acme', '{}', '2026-12-07 00:00:00')")
            assert raw.driver_connection.in_transaction
        async with engine.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM tenants")) == 0
    finally:
        await engine.dispose()


async def test_a_transactions_work_runs_on_the_event_loops_thread(
    sql: async_sessionmaker[AsyncSession],
) -> None:
    """A POST's, and a generation's start and final write: in a thread their Python would take the GIL from
    the loop's deliveries whenever many run at once."""

    def work(connection: Connection) -> int:
        connection.execute(text("SELECT 1"))
        return threading.get_ident()

    assert await in_transaction(sql, work) == threading.get_ident()
