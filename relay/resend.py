"""Regenerate and edit-and-resend: the stored messages a new generation takes the place of.

Both start again from the session's last user message: regenerate keeps it and
removes the answer after it; an edit removes it too (a new user message with the
new content follows). Only the last user message qualifies, so a history never
has holes. The usage the removed answers spent stays counted (it is kept apart,
per tenant and month).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schema.models import PROCESSING, ChatMessage, ChatSession, utcnow

from .auth import Claims
from .errors import busy, conflict


def new_answer(claims: Claims, session_id: str, created_at: datetime) -> ChatMessage:
    """The placeholder a generation streams into; its user_id is whose tokens the generation spends."""
    return ChatMessage(
        session_id=session_id, user_id=claims.user, role="assistant", content="", status=PROCESSING,
        changes=[], usage={}, created_at=created_at,
    )  # fmt: skip


async def take_back(db: AsyncSession, session_id: str, edited: str | None = None) -> tuple[ChatMessage, list[str]]:
    """Remove what follows the session's last user message (and that message too when it is `edited`).

    Returns that user message and the ids removed, oldest first. The session's row is written first, so
    that two of these (or one and a new message) on PostgreSQL take turns instead of each deciding from
    a history the other is changing; SQLite has one writer at a time anyway.
    """
    await db.execute(update(ChatSession).where(ChatSession.id == session_id).values(updated_at=utcnow()))
    running = await db.scalar(
        select(ChatMessage.id).where(ChatMessage.session_id == session_id, ChatMessage.status == PROCESSING)
    )
    if running is not None:
        raise busy()
    last_question = await db.scalar(
        select(ChatMessage)
        .where(ChatMessage.session_id == session_id, ChatMessage.role == "user")
        .order_by(ChatMessage.created_at.desc(), ChatMessage.id.desc())
        .limit(1)
    )
    if edited is not None and (last_question is None or last_question.id != edited):
        raise conflict("Only the session's last user message can be edited and sent again.")
    if last_question is None:
        raise conflict("There is no answer to regenerate in this session yet.")
    since = last_question.created_at
    later = ChatMessage.created_at >= since if edited else ChatMessage.created_at > since
    removed = list(
        await db.scalars(
            select(ChatMessage.id).where(ChatMessage.session_id == session_id, later).order_by(ChatMessage.created_at)
        )
    )
    if removed:
        await db.execute(delete(ChatMessage).where(ChatMessage.id.in_(removed)))
    return last_question, removed
