"""Engine and session factory for any SQLAlchemy async URL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession
from sqlalchemy.pool import ConnectionPoolEntry, PoolResetState

P = ParamSpec("P")
T = TypeVar("T")

POOL_WAIT_SECONDS = 120.0  # a burst larger than the pool waits its turn; past this it is answered "busy"
CONNECT_TIMEOUT_SECONDS = 5.0  # asyncpg waits 60 s by default for an address that does not answer
# SQLSTATE classes meaning "cannot be reached now": connection exception, operator intervention (shutting down)
UNREACHABLE_SQLSTATES = ("08", "57")


def database_unreachable(exc: BaseException) -> bool:
    """True when `exc` means SQL cannot be reached right now (worth a retry, or a 503), not a bad statement."""
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated or isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return True
        exc = exc.orig or exc
    sqlstate = getattr(exc, "sqlstate", None) or getattr(getattr(exc, "__cause__", None), "sqlstate", None)
    if isinstance(sqlstate, str) and sqlstate[:2] in UNREACHABLE_SQLSTATES:
        return True
    return isinstance(exc, (OSError, TimeoutError, sa_exc.TimeoutError, sa_exc.DisconnectionError))


def create_engine(url: str, connections: int | None = None) -> AsyncEngine:
    """`connections`: the pool's size (none beyond it), for a process whose SQL users are bounded by it."""
    options: dict[str, Any] = {"pool_pre_ping": True}
    if url.startswith("postgresql+asyncpg"):
        options["connect_args"] = {"timeout": CONNECT_TIMEOUT_SECONDS}
    if url.startswith("sqlite"):
        options = {"connect_args": {"timeout": 30}, "pool_reset_on_return": None}  # `_rollback_if_begun` resets
    if connections is not None and ":memory:" not in url:
        options |= {"pool_size": connections, "max_overflow": 0, "pool_timeout": POOL_WAIT_SECONDS}
    engine = create_async_engine(url, **options)
    if url.startswith("sqlite"):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "reset", _rollback_if_begun)
    return engine


def _rollback_if_begun(dbapi_connection: Any, record: ConnectionPoolEntry, state: PoolResetState) -> None:
    """A SQLite connection's reset when it returns to the pool: a rollback only if a transaction is open.
    The pool's own reset rolls back every time, and through aiosqlite each is a hand-over to its thread and
    back, after a commit or a read (which opens no transaction) too. Not when the pool cleans up after a
    collected connection outside the event loop (`asyncio_safe`), as the pool's own reset does not."""
    if state.asyncio_safe and record.driver_connection is not None and record.driver_connection.in_transaction:
        dbapi_connection.rollback()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL with `synchronous=FULL` (SQLite's default, named): every commit is synced, so that a posted question
    stored before its 202 survives a power loss, not only a crash of the process (NORMAL would save the sync,
    ~0.4 ms a commit here, and lose the last commits to a power loss)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def thread_engine(engine: AsyncEngine) -> Engine | None:
    """For a SQLite file: an engine on the same file through the plain `sqlite3` driver, whose transactions
    run whole in a worker thread (`asyncio.to_thread`): one hand-over each way, where aiosqlite's thread
    takes one per cursor, statement, close, commit and reset. None for any other database (and for
    `:memory:`, which another connection would not see)."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    threaded = create_sync_engine(url.set(drivername="sqlite"), connect_args={"timeout": 30})
    event.listen(threaded, "connect", _sqlite_pragmas)
    return threaded


def session_factory(engine: AsyncEngine, threaded: Engine | None = None) -> async_sessionmaker[AsyncSession]:
    """`threaded`: the database's `thread_engine`, on which `in_transaction` runs (the factory carries it)."""
    return async_sessionmaker(engine, expire_on_commit=False, info={"threaded": threaded})


def threaded_engine(db: async_sessionmaker[AsyncSession]) -> Engine | None:
    return db.kw.get("info", {}).get("threaded")


async def in_transaction(
    db: async_sessionmaker[AsyncSession],
    work: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`work(connection, ...)` in one transaction, in Core: on a SQLite file whole in a worker thread (one hand-over
    each way instead of aiosqlite's one per cursor, statement, fetch and commit), else on the async engine."""
    threaded = threaded_engine(db)
    if threaded is not None:
        return await asyncio.to_thread(_transaction, threaded, work, *args, **kwargs)
    return await in_loop_transaction(db, work, *args, **kwargs)


async def in_loop_transaction(
    db: async_sessionmaker[AsyncSession],
    work: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`work(connection, ...)` in one transaction on the async engine, its Python run on the event loop between
    the driver's awaits. For a transaction whose Python, in a thread, would hold the GIL while the loop has
    chunks to pass on: a generation's start and final write did, with 100 starting or ending at once."""
    engine: AsyncEngine = db.kw["bind"]
    async with engine.begin() as connection:
        return await connection.run_sync(work, *args, **kwargs)


def _transaction(engine: Engine, work: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
    with engine.begin() as connection:
        return work(connection, *args, **kwargs)
