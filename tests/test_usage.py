"""Token usage: reported or estimated per generation, added up per month for the tenant and each user."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from schema.db import in_transaction, session_factory
from schema.models import Tenant
from schema.usage import add_usage, generation_usage, month_of, month_total, report, resets_at

from .system import Backend


def test_reported_usage_is_normalised_and_missing_usage_is_estimated_and_flagged() -> None:
    reported = {"input_tokens": 5, "output_tokens": 7}
    assert generation_usage(reported, 1, "a") == reported
    assert generation_usage({"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}, 1, "a") == {
        "input_tokens": 5, "output_tokens": 7,
    }  # fmt: skip
    assert generation_usage({}, 40, "y" * 9) == {"input_tokens": 10, "output_tokens": 3, "estimated": True}
    assert generation_usage({"input_tokens": True, "output_tokens": "7"}, 0, "") == {
        "input_tokens": 0, "output_tokens": 0, "estimated": True,
    }  # fmt: skip


def test_a_month_resets_on_the_first_of_the_next_one_in_utc() -> None:
    assert resets_at("2026-12") == datetime(2027, 1, 1, tzinfo=UTC)
    assert resets_at("2026-02") == datetime(2026, 3, 1, tzinfo=UTC)
    assert month_of(datetime(2026, 11, 30, 23, 59, tzinfo=UTC)) == "2026-11"


async def test_totals_add_up_per_tenant_and_user_even_when_written_at_once(
    backend: Backend, migrated: AsyncEngine
) -> None:
    db = session_factory(migrated)
    async with db.begin() as session:
        session.add_all([Tenant(id="acme", settings={}), Tenant(id="other", settings={})])

    async def generation(user: str, tokens: int, tenant: str = "acme") -> None:
        await in_transaction(db, add_usage, tenant, user, "2026-11", tokens, 1)

    if backend.redis_url is None:  # SQLite serialises writers: one at a time
        for user, tokens in [("alice", 10), ("bob", 20), ("alice", 30)]:
            await generation(user, tokens)
    else:
        await asyncio.gather(generation("alice", 10), generation("bob", 20), generation("alice", 30))
    await generation("mallory", 1000, tenant="other")
    async with db() as session:
        assert await month_total(session, "acme", "2026-11") == 63
        assert await month_total(session, "acme", "2026-10") == 0
        shown = await report(session, "acme", "2026-11", 100)
    assert shown["total_tokens"] == 63 and shown["generations"] == 3
    assert shown["limit"] == {"monthly_tokens": 100, "remaining": 37, "resets_at": "2026-12-01T00:00:00+00:00"}
    assert shown["by_user"] == [
        {"user_id": "alice", "input_tokens": 40, "output_tokens": 2, "generations": 2},
        {"user_id": "bob", "input_tokens": 20, "output_tokens": 1, "generations": 1},
    ]


async def test_a_final_write_returns_the_stored_message_and_counts_the_askers_tokens_once(
    sql: async_sessionmaker[AsyncSession],
) -> None:
    from schema.models import INTERRUPTED, PROCESSING, SUCCESS, ChatMessage, ChatSession
    from schema.store import WORKER_LOST, persist_final, persisted_final

    db = sql
    async with db.begin() as session:
        session.add(Tenant(id="acme", settings={}))
    chats = [ChatSession(tenant_id="acme", user_id="owner", title="", context={}) for _ in range(3)]
    async with db.begin() as session:
        session.add_all(chats)
    asked, older, lost = (  # one generation per session at a time
        ChatMessage(session_id=chat.id, user_id=user, role="assistant", content="", status=PROCESSING)
        for chat, user in zip(chats, ("alice", None, "alice"), strict=True)
    )
    async with db.begin() as session:
        session.add_all([asked, older, lost])

    async def finish(message: ChatMessage, usage: dict[str, int], **options: object) -> dict[str, object] | None:
        values = {"status": SUCCESS, "content": "answer", "changes": [], "error": None, **options}
        return await persist_final(db, message.id, usage=usage, **values)  # type: ignore[arg-type]

    final = await finish(asked, {"input_tokens": 3, "output_tokens": 5})
    assert final == await persisted_final(db, asked.id)  # what the write returned is what is stored
    assert final is not None and final["message"]["status"] == SUCCESS  # type: ignore[index]
    assert await finish(asked, {"input_tokens": 100, "output_tokens": 100}) is None  # finished already
    await finish(older, {"input_tokens": 7, "output_tokens": 0})  # no user on the row: the session owner's
    await finish(lost, {"input_tokens": 1, "output_tokens": 1}, status=INTERRUPTED, error=WORKER_LOST)  # a takeover
    assert await finish(lost, {"input_tokens": 4, "output_tokens": 6}, replaces_takeover=True) is not None
    async with db() as session:
        shown = await report(session, "acme", month_of(datetime.now(UTC)), None)
    assert shown["by_user"] == [
        {"user_id": "alice", "input_tokens": 7, "output_tokens": 11, "generations": 2},
        {"user_id": "owner", "input_tokens": 7, "output_tokens": 0, "generations": 1},
    ]
