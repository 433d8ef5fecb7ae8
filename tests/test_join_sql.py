"""A join whose page is stale reads the session as the session list shows it, and its recent messages."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from relay.join_sql import session_and_history
from relay.session_list import session_page
from schema.db import session_factory
from schema.models import SUCCESS, ChatMessage, ChatSession, Tenant, utcnow
from schema.store import HISTORY_LIMIT, recent_messages


async def test_a_join_reads_the_session_as_listed_and_its_recent_messages(migrated: AsyncEngine) -> None:
    db = session_factory(migrated)
    now = utcnow()
    async with db.begin() as session:
        session.add(Tenant(id="acme", settings={}))
        await session.flush()
        session.add_all([ChatSession(id=s, tenant_id="acme", user_id="alice", title=s, context={}) for s in "abc"])
        await session.flush()
        for i in range(HISTORY_LIMIT + 7):  # more than a join is sent: the count still counts them all
            role = "user" if i % 2 else "assistant"
            session.add(ChatMessage(session_id="a", role=role, content=f"{i} " + "x" * 300, status=SUCCESS,
                                    changes=[], usage={}, created_at=now + timedelta(seconds=i)))  # fmt: skip
        session.add(ChatMessage(session_id="b", role="user", content="only", status=SUCCESS, changes=[], usage={},
                                created_at=now))  # fmt: skip
    for session_id in "abc":
        async with db() as session:
            found = await session_and_history(session, "acme", session_id)
            listed = await session_page(session, "acme", None, 1, session_id)
            recent = await recent_messages(session, session_id)
        assert found is not None
        assert found == (listed[0], recent)
    async with db() as session:
        assert await session_and_history(session, "other-tenant", "a") is None
        assert await session_and_history(session, "acme", "missing") is None
    assert found[0]["message_count"] == 0 and found[1] == []
