"""A page of sessions carries each one's last message and message count, read in one query."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from relay.session_list import PREVIEW_CHARS, session_page
from schema.db import session_factory
from schema.models import SUCCESS, ChatMessage, ChatSession, Tenant, utcnow


async def test_a_page_of_sessions_is_one_query_with_last_message_and_count(migrated: AsyncEngine) -> None:
    db = session_factory(migrated)
    now = utcnow()
    async with db.begin() as session:
        session.add(Tenant(id="acme", settings={}))
        await session.flush()
        sessions = [
            ChatSession(id=f"s{i}", tenant_id="acme", user_id=user, title=f"t{i}", context={},
                        updated_at=now + timedelta(seconds=i))
            for i, user in enumerate(["alice", "alice", "bob", "alice"])
        ]  # fmt: skip
        session.add_all(sessions)
        await session.flush()
        for i in range(3):
            session.add(ChatMessage(session_id="s1", role="user", content=f"question {i}", status=SUCCESS,
                                    changes=[], usage={}, created_at=now + timedelta(seconds=i)))  # fmt: skip
        session.add(ChatMessage(session_id="s1", role="assistant", content="x" * 1000, status=SUCCESS,
                                changes=[], usage={}, created_at=now + timedelta(seconds=9)))  # fmt: skip
    statements: list[str] = []
    event.listen(migrated.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    async with db() as session:
        alices = await session_page(session, "acme", "alice")
    assert len(statements) == 1
    async with db() as session:
        everyone = await session_page(session, "acme", None, limit=2)
        nobody = await session_page(session, "other", None)

    assert [s["id"] for s in alices] == ["s3", "s1", "s0"]
    by_id = {s["id"]: s for s in alices}
    assert by_id["s1"]["message_count"] == 4
    assert by_id["s1"]["last_message"]["role"] == "assistant"
    assert by_id["s1"]["last_message"]["preview"] == "x" * PREVIEW_CHARS
    assert by_id["s0"]["message_count"] == 0 and by_id["s0"]["last_message"] is None
    assert by_id["s0"]["user_id"] == "alice" and by_id["s0"]["revision"] == 1
    assert [s["id"] for s in everyone] == ["s3", "s2"]
    assert nobody == []
