"""A join's session and history come from the page cached next to the log while it is current, and from SQL
as soon as anything it shows has changed (relay/join_page.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from schema.events import change_id

from .system import Backend, System


@contextmanager
def sql_statements(system: System) -> Iterator[list[str]]:
    """Every statement the gateway sends to SQL meanwhile."""
    gateway = system.gateways[0].server.config.app.state.gateway
    engines = [gateway.engine.sync_engine]
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


def touches(statements: list[str], table: str) -> bool:
    return any(table in statement for statement in statements)


async def join_cached(system: System, topic: str) -> dict[str, Any]:
    """Join until the session's page is cached (a join that reads SQL stores it) and one join was served from it."""
    await (await system.client()).join(topic)
    return await (await system.client()).join(topic)


async def test_a_second_join_reads_no_session_or_message_from_sql(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session(title="cached")
        await system.ask(session_id, "hello")
        topic = f"ai_session:{session_id}"
        first = await (await system.client()).join(topic)
        with sql_statements(system) as statements:
            second = await (await system.client()).join(topic)
    assert second["status"] == "ok"
    assert second["response"]["session"] == first["response"]["session"]
    assert second["response"]["messages"] == first["response"]["messages"]
    assert [m["role"] for m in second["response"]["messages"]] == ["user", "assistant"]
    assert not touches(statements, "chat_sessions") and not touches(statements, "chat_messages")


async def test_the_second_join_of_a_session_without_history_reads_no_session_or_message_from_sql(
    backend: Backend,
) -> None:
    async with System(backend) as system:
        session_id = await system.new_session(title="fresh")
        topic = f"ai_session:{session_id}"
        first = await (await system.client()).join(topic)  # the session has no epoch before this join
        with sql_statements(system) as statements:
            second = await (await system.client()).join(topic)
    assert second["response"]["session"]["title"] == "fresh"
    assert second["response"]["messages"] == first["response"]["messages"] == []
    assert not touches(statements, "chat_sessions") and not touches(statements, "chat_messages")


async def test_a_join_after_a_new_answer_shows_it(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        await join_cached(system, topic)  # no messages yet
        answer = await system.ask(session_id, "hello")
        reply = await (await system.client()).join(topic)
    messages = reply["response"]["messages"]
    assert [(m["role"], m["status"]) for m in messages] == [("user", "success"), ("assistant", "success")]
    assert messages[-1]["content"] == answer["content"]
    assert reply["response"]["session"]["message_count"] == 2


async def test_a_join_after_a_rename_shows_the_new_title(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session(title="before")
        topic = f"ai_session:{session_id}"
        first = await join_cached(system, topic)
        revision = first["response"]["session"]["revision"]
        renamed = await system.http.patch(
            f"/api/sessions/{session_id}", json={"title": "after", "revision": revision}, headers=system.auth()
        )
        assert renamed.status_code == 200
        reply = await (await system.client()).join(topic)
    assert reply["response"]["session"]["title"] == "after"


async def test_a_join_after_a_claim_shows_the_change_applied(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        answer = await system.ask(session_id, "change my workflow")
        assert answer["changes"], "the demo answer carries changes"
        claimed = answer["changes"][0]["change_id"]
        assert claimed == change_id(answer["id"], answer["changes"][0]["changes"])
        first = await join_cached(system, topic)
        tab = await system.client()
        await tab.join(topic)
        assert {c["applied"] for c in first["response"]["messages"][-1]["changes"]} == {False}
        granted = await tab.push(topic, "claim_changes", {"change_id": claimed})
        assert granted["response"]["granted"] is True
        reply = await (await system.client()).join(topic)
    changes = reply["response"]["messages"][-1]["changes"]
    assert [c["applied"] for c in changes if c["change_id"] == claimed] == [True]


async def test_another_tenant_is_not_let_in_by_a_cached_page(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session(tenant="acme")
        topic = f"ai_session:{session_id}"
        assert (await join_cached(system, topic))["status"] == "ok"
        await system.enable_assistant("globex")
        reply = await (await system.client(user="mallory", tenant="globex")).join(topic)
    assert reply["status"] == "error"
    assert reply["response"]["reason"] == "not_found"


async def test_tabs_joining_a_session_together_share_one_sql_read_of_its_page(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session(title="together")
        await system.ask(session_id, "hello")
        topic = f"ai_session:{session_id}"
        tabs = [await system.client() for _ in range(8)]
        with sql_statements(system) as statements:
            replies = await asyncio.gather(*(tab.join(topic) for tab in tabs))
    assert {r["status"] for r in replies} == {"ok"}
    assert {len(r["response"]["messages"]) for r in replies} == {2}
    assert sum("FROM chat_sessions" in s for s in statements) == 1


async def test_a_page_that_cannot_be_read_is_read_from_sql_again(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session(title="kept")
        await system.ask(session_id, "hello")
        topic = f"ai_session:{session_id}"
        first = await join_cached(system, topic)
        broker = system.gateways[0].server.config.app.state.gateway.broker
        for unreadable in (b'["an older page format", 1]', b"[]\n{}\n[", b"\n\n"):
            await broker.event_log.store_attachment(session_id, unreadable)
            reply = await (await system.client()).join(topic)
            assert reply["response"]["session"] == first["response"]["session"]
            assert reply["response"]["messages"] == first["response"]["messages"]


async def test_the_first_join_of_a_new_session_reads_no_sql_and_shows_it_as_the_api_does(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session(title="brand new", context={"workflow": "w1"})
        with sql_statements(system) as statements:
            reply = await (await system.client()).join(f"ai_session:{session_id}")
        shown = await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())
    assert reply["status"] == "ok"
    assert reply["response"]["session"] == shown.json()["session"]
    assert reply["response"]["messages"] == []
    assert not touches(statements, "chat_sessions") and not touches(statements, "chat_messages")


async def test_a_join_of_a_session_id_nobody_created_is_refused_and_stores_nothing(backend: Backend) -> None:
    async with System(backend) as system:
        await system.enable_assistant("acme")
        made_up = "00000000-0000-4000-8000-000000000000"
        reply = await (await system.client()).join(f"ai_session:{made_up}")
        broker = system.gateways[0].server.config.app.state.gateway.broker
        position = await broker.event_log.position(made_up, None)
    assert reply["status"] == "error" and reply["response"]["reason"] == "not_found"
    assert position.snapshot.epoch == ""
