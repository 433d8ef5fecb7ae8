"""Engine and session factory for any SQLAlchemy async URL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlalchemy import Connection, event
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


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def in_transaction(
    db: async_sessionmaker[AsyncSession],
    work: Callable[Concatenate[Connection, P], T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`work(connection, ...)` in one transaction, in Core, its Python run on the event loop between the
    driver's awaits. Not in a thread, though on a SQLite file that would take one hand-over each way instead
    of aiosqlite's one per statement: there the transaction's Python holds the GIL while the loop has
    events to pass on, and when many run at once (100 questions posted, or generations starting or ending,
    together) the streams already running wait for it."""
    engine: AsyncEngine = db.kw["bind"]
    async with engine.begin() as connection:
        return await connection.run_sync(work, *args, **kwargs)
