"""A posted question and its answer's placeholder: the POST path's one transaction, in Core statements.

Every chat message posted runs this, so it is kept to what must be in SQL: the
session touched (which also proves it is the caller's tenant's, and on
PostgreSQL makes two posts to one session take turns), the month's tokens when
the tenant has a limit, and both rows in one executemany. The statements are
built once at import; no ORM unit of work, no identity map.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .db import in_transaction
from .models import PROCESSING, SUCCESS, ChatMessage, ChatSession, TenantUsage, new_id, utcnow
from .usage import month_of

MESSAGES, SESSIONS, USAGE = (model.__table__ for model in (ChatMessage, ChatSession, TenantUsage))  # type: ignore[attr-defined]

TOUCH_SESSION = (
    update(SESSIONS)
    .where(SESSIONS.c.id == bindparam("s_id"), SESSIONS.c.tenant_id == bindparam("s_tenant"))
    .values(updated_at=bindparam("s_now"))
)
MONTH_TOTAL = select(USAGE.c.input_tokens + USAGE.c.output_tokens).where(
    USAGE.c.tenant_id == bindparam("u_tenant"), USAGE.c.month == bindparam("u_month")
)
INSERT_MESSAGE = insert(MESSAGES)
NOT_QUEUED = "the generation could not be queued: the message broker is unavailable"


class SessionNotFound(LookupError):
    """No such session in the caller's tenant."""


class OverLimit(Exception):
    """The tenant's tokens for the month are used up."""


def question_and_answer(session_id: str, user_id: str, content: str, now: datetime) -> list[dict[str, Any]]:
    """The two rows a post inserts: the question (done) and the answer's placeholder (`processing`), one µs later."""
    common = {"session_id": session_id, "user_id": user_id, "changes": [], "usage": {}, "tool_calls": [], "error": None}
    return [
        {**common, "id": new_id(), "role": "user", "content": content, "status": SUCCESS,
         "created_at": now, "completed_at": now},
        {**common, "id": new_id(), "role": "assistant", "content": "", "status": PROCESSING,
         "created_at": now + timedelta(microseconds=1), "completed_at": None},
    ]  # fmt: skip


async def post_question(
    db: async_sessionmaker[AsyncSession], tenant_id: str, rows: list[dict[str, Any]], limit: int | None
) -> None:
    """Insert `rows` (`question_and_answer`) in one transaction; `limit`: the tenant's monthly tokens, if any.

    Raises `SessionNotFound`, `OverLimit`, or the database's IntegrityError when the session already has
    a generation running (its one-`processing`-message index).
    """
    await in_transaction(db, _post, tenant_id, rows, limit)


def _post(connection: Connection, tenant_id: str, rows: list[dict[str, Any]], limit: int | None) -> None:
    session_id, now = rows[0]["session_id"], rows[0]["created_at"]
    touched = connection.execute(TOUCH_SESSION, {"s_id": session_id, "s_tenant": tenant_id, "s_now": now})
    if touched.rowcount != 1:
        raise SessionNotFound(session_id)
    if limit is not None:
        month = month_of(now)
        used = connection.scalar(MONTH_TOTAL, {"u_tenant": tenant_id, "u_month": month})
        if (used or 0) >= limit:
            raise OverLimit(month)
    connection.execute(INSERT_MESSAGE, rows)


async def fail_answer(engine: AsyncEngine, message_id: str, error: str) -> None:
    """End a placeholder whose generation could not be queued as `error` (unless something ended it already)."""
    running = MESSAGES.c.id == message_id, MESSAGES.c.status == PROCESSING
    ended = {"status": "error", "error": error, "completed_at": utcnow()}
    async with engine.begin() as connection:
        await connection.execute(update(MESSAGES).where(*running).values(ended))
