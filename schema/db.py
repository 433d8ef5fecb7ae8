"""Engine and session factory for any SQLAlchemy async URL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.ext.asyncio import AsyncSession as AsyncSession

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
        options = {"connect_args": {"timeout": 30}}
    if connections is not None and ":memory:" not in url:
        options |= {"pool_size": connections, "max_overflow": 0, "pool_timeout": POOL_WAIT_SECONDS}
    engine = create_async_engine(url, **options)
    if url.startswith("sqlite"):

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
