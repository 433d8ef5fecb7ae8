"""A page of sessions with their last message and message count, in one query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schema.models import ChatMessage, ChatSession, iso

PREVIEW_CHARS = 200
DEFAULT_PAGE = 100
MAX_PAGE = 500


async def session_page(
    db: AsyncSession, tenant_id: str, user_id: str | None, limit: int = DEFAULT_PAGE, session_id: str | None = None
) -> list[dict[str, Any]]:
    """The tenant's sessions (only `user_id`'s, unless None; only `session_id`), most recently active first."""
    page = select(ChatSession.id).where(ChatSession.tenant_id == tenant_id)
    if user_id is not None:
        page = page.where(ChatSession.user_id == user_id)
    if session_id is not None:
        page = page.where(ChatSession.id == session_id)
    page_ids = page.order_by(ChatSession.updated_at.desc(), ChatSession.id).limit(limit).scalar_subquery()
    in_page = ChatMessage.session_id.in_(page_ids)
    ranked = (
        select(
            ChatMessage.session_id,
            ChatMessage.role,
            func.substr(ChatMessage.content, 1, PREVIEW_CHARS).label("preview"),
            ChatMessage.created_at,
            func.count().over(partition_by=ChatMessage.session_id).label("count"),
            func.row_number()
            .over(partition_by=ChatMessage.session_id, order_by=(ChatMessage.created_at.desc(), ChatMessage.id))
            .label("rank"),
        )
        .where(in_page)
        .subquery()
    )
    last = select(ranked).where(ranked.c.rank == 1).subquery()
    query = (
        select(ChatSession, last.c.role, last.c.preview, last.c.created_at, last.c.count)
        .outerjoin(last, last.c.session_id == ChatSession.id)
        .where(ChatSession.id.in_(page_ids))
        .order_by(ChatSession.updated_at.desc(), ChatSession.id)
    )
    sessions = []
    for session, role, preview, created_at, count in await db.execute(query):
        last_message = None
        if role is not None:
            last_message = {"role": role, "preview": preview, "created_at": iso(created_at)}
        sessions.append(session.to_dict(last_message, count or 0))
    return sessions
