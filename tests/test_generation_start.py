"""What a generation reads from SQL as it starts (`schema.store.generation_start`)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema.models import ERROR, PROCESSING, SUCCESS, ChatMessage, ChatSession, Tenant, utcnow
from schema.store import HISTORY_LIMIT, generation_start


async def test_the_start_reads_the_question_its_history_in_order_and_the_settings(
    sql: async_sessionmaker[AsyncSession],
) -> None:
    db = sql
    now = utcnow()
    calls = [{"id": "c1", "name": "lookup", "arguments": {}, "result": "found"}]
    async with db.begin() as session:
        session.add(Tenant(id="acme", settings={"ai": {"model": "m"}}))
        await session.flush()
        session.add(ChatSession(id="s", tenant_id="acme", user_id="owner", title="", context={"page": "p"},
                                documents="relay"))  # fmt: skip
        session.add(ChatSession(id="other", tenant_id="acme", user_id="owner", title="", context={}))
        await session.flush()
        older = HISTORY_LIMIT + 5  # more than the history a generation is given
        for i in range(older):
            role = "user" if i % 2 == 0 else "assistant"
            session.add(ChatMessage(session_id="s", role=role, content=f"m{i}", status=SUCCESS, changes=[], usage={},
                                    tool_calls=calls if role == "assistant" else [], user_id="bob",
                                    created_at=now + timedelta(seconds=i)))  # fmt: skip
        session.add(ChatMessage(session_id="s", role="assistant", content="failed", status=ERROR, changes=[],
                                usage={}, created_at=now + timedelta(seconds=older, microseconds=1)))  # fmt: skip
        asked = now + timedelta(seconds=older + 1)
        session.add(ChatMessage(id="q", session_id="s", role="user", content="the question", status=SUCCESS,
                                changes=[], usage={}, user_id="carol", created_at=asked))  # fmt: skip
        session.add(ChatMessage(id="a", session_id="s", role="assistant", content="", status=PROCESSING, changes=[],
                                usage={}, created_at=asked + timedelta(microseconds=1)))  # fmt: skip
        session.add(ChatMessage(session_id="other", role="user", content="elsewhere", status=SUCCESS, changes=[],
                                usage={}, created_at=now + timedelta(seconds=older)))  # fmt: skip
    start = await generation_start(db, "s", "a")
    assert start is not None
    assert (start.question, start.user_id) == ("the question", "carol")
    assert [m["content"] for m in start.history] == [f"m{i}" for i in range(older - HISTORY_LIMIT, older)]
    assert start.history[-1] == {"role": "user", "content": f"m{older - 1}"}
    assert start.history[-2] == {"role": "assistant", "content": f"m{older - 2}", "tool_calls": calls}
    assert (start.context, start.tenant_settings, start.tenant, start.documents) == (
        {"page": "p"}, {"ai": {"model": "m"}}, "acme", "relay",
    )  # fmt: skip


async def test_the_start_of_a_message_no_longer_processing_or_unknown_is_none(
    sql: async_sessionmaker[AsyncSession],
) -> None:
    db = sql
    now = utcnow()
    async with db.begin() as session:
        session.add(Tenant(id="acme", settings={}))
        await session.flush()
        session.add(ChatSession(id="s", tenant_id="acme", user_id="owner", title="", context={}))
        await session.flush()
        session.add(ChatMessage(id="q", session_id="s", role="user", content="hi", status=SUCCESS, changes=[],
                                usage={}, created_at=now))  # fmt: skip
        session.add(ChatMessage(id="a", session_id="s", role="assistant", content="done", status=SUCCESS, changes=[],
                                usage={}, created_at=now + timedelta(microseconds=1)))  # fmt: skip
    assert await generation_start(db, "s", "a") is None
    assert await generation_start(db, "s", "missing") is None
    assert await generation_start(db, "other", "a") is None
