"""A posted message costs one transaction of two statements (schema/posting.py), and refuses as it did."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import event

from schema.db import create_engine, in_transaction
from schema.models import utcnow
from schema.usage import add_usage, month_of

from .system import Backend, System
from .test_join_page import sql_statements

RUN_ON_CLUSTER = True  # the post's publish and job go to different slots there


async def test_a_post_with_the_tenant_settings_cached_writes_the_session_and_both_messages_and_reads_nothing(
    backend: Backend,
) -> None:
    async with System(backend) as system:
        session_id = await system.new_session()
        await system.ask(session_id, "warm the settings cache")
        with sql_statements(system) as statements:
            posted = await system.post_message(session_id, "hello")
        assert posted.status_code == 202
    verbs = [statement.split()[0].upper() for statement in statements]
    assert verbs == ["UPDATE", "INSERT"], statements


async def test_a_post_over_the_monthly_limit_writes_nothing_and_is_refused(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session()
        await system.http.put(
            "/api/tenant/settings", headers=system.auth(role="admin"), json={"usage_limit": {"monthly_tokens": 10}}
        )
        db = system.gateways[0].server.config.app.state.gateway.db
        await in_transaction(db, add_usage, "acme", "alice", month_of(utcnow()), 8, 2)
        refused = await system.post_message(session_id, "hello")
        history = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    assert refused.status_code == 429 and refused.json()["code"] == "usage_limit"
    assert history.json()["messages"] == []


async def test_a_post_to_another_tenants_session_is_not_found_and_writes_nothing(backend: Backend) -> None:
    async with System(backend) as system:
        session_id = await system.new_session(tenant="acme")
        await system.enable_assistant("globex")
        refused = await system.post_message(session_id, "hello", tenant="globex")
        history = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    assert refused.status_code == 404
    assert history.json()["messages"] == []


async def test_a_post_while_a_generation_runs_is_busy_and_leaves_the_session_untouched(backend: Backend) -> None:
    async with System(backend, chunk_delay=0.05) as system:
        session_id = await system.new_session()
        assert (await system.post_message(session_id, "first")).status_code == 202
        before = (await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())).json()["session"]
        refused = await system.post_message(session_id, "second")
        after = (await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())).json()["session"]
    assert refused.status_code == 409 and refused.json()["code"] == "busy"
    assert after["updated_at"] == before["updated_at"]


async def test_a_posts_transaction_runs_on_the_event_loop_in_two_statements(backend: Backend) -> None:
    """Not in a thread: there its Python took the GIL from the loop's deliveries while 100 questions were
    posted at once (the streams' upstream → tab p99 ~10 against ~7 ms on the loop, `bench` `e2e`)."""
    async with System(backend) as system:
        gateway = system.gateways[0].server.config.app.state.gateway
        session_id = await system.new_session()
        await system.ask(session_id, "warm the settings cache")
        threads: list[int] = []
        record = lambda *args: threads.append(threading.get_ident())  # noqa: E731
        event.listen(gateway.engine.sync_engine, "before_cursor_execute", record)
        try:
            with sql_statements(system) as statements:
                posted = await system.post_message(session_id, "hello")
        finally:
            event.remove(gateway.engine.sync_engine, "before_cursor_execute", record)
        assert posted.status_code == 202
    assert [s.split()[0].upper() for s in statements] == ["UPDATE", "INSERT"]
    assert threads == [threading.get_ident()] * 2


async def test_a_post_whose_sqlite_file_cannot_be_opened_is_a_clear_503_and_queues_nothing(
    backend: Backend, tmp_path: Path
) -> None:
    async with System(backend) as system:
        gateway = system.gateways[0].server.config.app.state.gateway
        if gateway.engine.dialect.name != "sqlite":
            return  # PostgreSQL down: tests/faults/test_sql_outage.py
        session_id = await system.new_session()
        await system.ask(session_id, "warm the settings cache")
        bound = gateway.db.kw  # the engine the session factory's transactions run on
        working, bound["bind"] = bound["bind"], create_engine(f"sqlite+aiosqlite:///{tmp_path}/missing/streamrelay.db")
        try:
            refused = await system.post_message(session_id, "hello")
        finally:
            await bound["bind"].dispose()
            bound["bind"] = working
        waiting, pending = await gateway.broker.jobs.counts()
    assert refused.status_code == 503 and refused.json()["code"] == "unavailable", refused.text
    assert (waiting, pending) == (0, 0)
