"""What a join whose cached page is stale reads from SQL: the session (the access check) and its recent messages.

One connection, four statements built once (SQLAlchemy then reuses their
compiled form): a reconnect storm's first joins of sessions without a page
spent most of their CPU building `session_list.session_page`'s window-function
query anew for one session, then opening a second connection for the history.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schema.models import AppliedChange, ChatMessage, ChatSession, iso
from schema.store import HISTORY_LIMIT

from .session_list import PREVIEW_CHARS

SESSION = select(ChatSession).where(
    ChatSession.id == bindparam("session_id"), ChatSession.tenant_id == bindparam("tenant_id")
)
RECENT = (
    select(ChatMessage)
    .where(ChatMessage.session_id == bindparam("session_id"))
    .order_by(ChatMessage.created_at.desc(), ChatMessage.id)
    .limit(HISTORY_LIMIT)
)
COUNT = select(func.count()).select_from(ChatMessage).where(ChatMessage.session_id == bindparam("session_id"))
APPLIED = select(AppliedChange.change_id).where(AppliedChange.session_id == bindparam("session_id"))


async def session_and_history(
    db: AsyncSession, tenant_id: str, session_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """The session as `session_list` shows it and its last `HISTORY_LIMIT` messages, oldest first;
    None when the tenant has no such session."""
    ids = {"session_id": session_id}
    session = (await db.scalars(SESSION, {**ids, "tenant_id": tenant_id})).first()
    if session is None:
        return None
    newest_first = (await db.scalars(RECENT, ids)).all()
    count = len(newest_first)
    if count == HISTORY_LIMIT:
        count = (await db.scalar(COUNT, ids)) or 0
    applied = set(await db.scalars(APPLIED, ids)) if newest_first else set()
    last_message = None
    if newest_first:
        last = newest_first[0]
        last_message = {
            "role": last.role,
            "preview": last.content[:PREVIEW_CHARS],
            "created_at": iso(last.created_at),
        }
    messages = [message.to_dict(applied) for message in reversed(newest_first)]
    return session.to_dict(last_message, count), messages
