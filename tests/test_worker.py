"""The worker's backstops: a generation has a lifetime, and nothing stays `processing` past it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import event

from schema.db import create_engine, session_factory
from schema.models import PROCESSING, SUCCESS, ChatMessage, utcnow
from workers.runner import sql_turns

from .streams import final_message
from .system import Backend, System


async def test_a_generation_past_its_lifetime_ends_interrupted_with_what_it_streamed(backend: Backend) -> None:
    async with System(backend, chunk_delay=0.1, generation_max_seconds=1.0) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        tab = await system.client()
        await tab.join(topic)
        await system.post_message(session_id, "take your time")
        events = await tab.events_until(topic)
    final = final_message(events)
    assert final["status"] == "interrupted"
    assert "took longer than the 1 s" in final["error"]
    streamed = "".join(p["content"] for e, p in events if e == "streaming_chunk")
    assert streamed and final["content"] == streamed
    assert [e for e, _ in events][-2:] == ["streaming_error", "new_message"]


async def test_a_message_left_processing_without_a_job_is_ended_by_the_sweep(backend: Backend) -> None:
    async with System(backend, generation_max_seconds=1.0, job_claim_idle_seconds=0.6) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        tab = await system.client()
        await tab.join(topic)
        # what a Redis restart without persistence leaves behind: the message, but no job
        engine = create_engine(system.settings.database_url)
        long_ago = utcnow() - timedelta(hours=1)
        async with session_factory(engine).begin() as db:
            question = ChatMessage(session_id=session_id, role="user", content="hello?", status=SUCCESS,
                                   created_at=long_ago, completed_at=long_ago)  # fmt: skip
            lost = ChatMessage(session_id=session_id, role="assistant", content="", status=PROCESSING,
                               created_at=long_ago + timedelta(seconds=1))  # fmt: skip
            db.add_all([question, lost])
        await engine.dispose()
        events = await tab.events_until(topic, within=20)
    final = final_message(events)
    assert final["id"] == lost.id
    assert final["status"] == "interrupted"


async def test_a_worker_keeps_no_task_per_broker_reconnect(tmp_path) -> None:
    import asyncio

    from relay.broker.memory import MemoryBroker
    from workers.runner import Worker

    from .system import SECRET

    settings = Backend("memory", None, f"sqlite+aiosqlite:///{tmp_path}/w.db").settings(secret=SECRET)
    engine = create_engine(settings.database_url)
    worker = Worker(settings, MemoryBroker(), session_factory(engine), lambda _: None)  # type: ignore[arg-type,return-value]
    for _ in range(50):
        worker.resubscribed()  # each looks up stop requests for running generations: none here
    await asyncio.gather(*worker.chores)
    assert worker.chores == set()
    await engine.dispose()


async def test_generations_starting_together_take_turns_at_sql(backend: Backend) -> None:
    """A burst of generation starts must not flood the worker's loop with SQL while others stream."""
    async with System(backend, worker_concurrency=16) as system:
        worker = system.workers[0][0]
        pool = worker.db.kw["bind"].sync_engine.pool
        in_use = {"now": 0, "peak": 0}

        def checked_out(*_: object) -> None:
            in_use["now"] += 1
            in_use["peak"] = max(in_use["peak"], in_use["now"])

        def checked_in(*_: object) -> None:
            in_use["now"] -= 1

        event.listen(pool, "checkout", checked_out)
        event.listen(pool, "checkin", checked_in)
        sessions = [await system.new_session() for _ in range(12)]
        answers = await asyncio.gather(*(system.ask(session_id, "hello") for session_id in sessions))
        assert {answer["status"] for answer in answers} == {SUCCESS}
        assert in_use["peak"] <= sql_turns(16) + 1  # + a chore of the worker's (the lifetime sweep)



class BuggyProvider:
    """A provider with a bug in it: what it raises is no `UpstreamError`."""

    async def stream(self, request: object) -> AsyncIterator[object]:
        raise AttributeError("'int' object has no attribute 'startswith'")
        yield


async def test_a_bug_in_the_worker_is_shown_as_a_sentence_and_logged_with_its_traceback(tmp_path, caplog) -> None:
    from workers.runner import Worker

    backend = Backend("memory-sqlite", None, f"sqlite+aiosqlite:///{tmp_path}/streamrelay.db")
    async with System(backend) as system:
        session_id = await system.new_session()
        worker, task = system.workers.pop()
        worker.shutdown()
        await task
        engine = create_engine(system.settings.database_url)
        buggy = Worker(system.settings, worker.broker, session_factory(engine), lambda _: BuggyProvider())  # type: ignore[arg-type,return-value]
        running = asyncio.create_task(buggy.run())
        final = await system.ask(session_id, "hello")
        buggy.shutdown()
        await running
        await engine.dispose()
    assert (final["status"], final["error"]) == ("error", "The worker failed unexpectedly.")
    failures = [record for record in caplog.records if record.getMessage() == f"generation {final['id']} failed"]
    assert failures and failures[0].exc_info is not None


async def test_a_takeover_never_downgrades_what_the_generations_own_worker_persists(tmp_path) -> None:
    """Its worker silent too long (its final write waiting for SQL, say), a generation is ended as lost by
    another worker; the answer its own worker then persists wins, and no later takeover undoes it."""
    from relay.broker.memory import MemoryBroker
    from schema.models import ChatSession, Tenant
    from schema.store import persist_final
    from workers.ending import finish_lost

    from .system import migrate

    url = f"sqlite+aiosqlite:///{tmp_path}/takeover.db"
    await migrate(url)
    engine = create_engine(url)
    db = session_factory(engine)
    async with db.begin() as session:
        session.add(Tenant(id="acme", settings={}))
    async with db.begin() as session:
        chat = ChatSession(tenant_id="acme", user_id="alice", title="", context={})
        session.add(chat)
    async with db.begin() as session:
        message = ChatMessage(session_id=chat.id, role="assistant", content="", status=PROCESSING, created_at=utcnow())
        session.add(message)
    event_log = MemoryBroker().event_log

    assert await finish_lost(chat.id, message.id, event_log, db)  # the takeover: interrupted, "the worker … stopped"
    answer = {"status": SUCCESS, "content": "The whole answer.", "changes": [], "usage": {"input_tokens": 3}}
    final = await persist_final(db, message.id, replaces_takeover=True, error=None, **answer)
    assert final is not None
    assert not await finish_lost(chat.id, message.id, event_log, db)  # a second takeover changes nothing
    async with db() as session:
        stored = await session.get(ChatMessage, message.id)
        assert (stored.status, stored.content, stored.error, stored.usage) == (
            SUCCESS, "The whole answer.", None, {"input_tokens": 3},
        )  # fmt: skip
    await engine.dispose()


async def test_an_in_process_worker_that_raised_fails_the_test_at_teardown(tmp_path) -> None:
    """The harness's promise: a worker's crash in a `System` is never swallowed by its teardown."""
    backend = Backend("memory-sqlite", None, f"sqlite+aiosqlite:///{tmp_path}/crash.db")

    async def a_bug(*args: object, **kwargs: object) -> list[object]:
        raise RuntimeError("a bug in the job loop")

    with pytest.raises(AssertionError, match=r"an in-process worker failed: .*a bug in the job loop"):
        async with System(backend) as system:
            worker, task = system.workers[0]
            worker.broker.jobs.take = a_bug  # type: ignore[method-assign]
            await asyncio.wait([task])


async def test_a_generation_reads_its_start_in_two_statements_and_writes_its_end_in_one_transaction_on_the_loop(
    backend: Backend,
) -> None:
    """Core statements built once, run on the worker's async engine: its Python stays on the event loop, in turn
    with the chunks of the generations already streaming (in a thread, on a SQLite file, it took the GIL from them
    when 100 generations started at once)."""
    async with System(backend) as system:
        worker = system.workers[0][0]
        session_id = await system.new_session()
        statements: list[str] = []
        engine = worker.db.kw["bind"].sync_engine
        record = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", record)
        try:
            answer = await system.ask(session_id, "hello")
        finally:
            event.remove(engine, "before_cursor_execute", record)
    assert answer["status"] == SUCCESS
    # the start (the message, its history); the end (the message, its changes' ids, the tenant's and user's usage)
    verbs = [statement.split()[0].upper() for statement in statements if not statement.startswith("BEGIN")]
    assert verbs == ["SELECT", "SELECT", "UPDATE", "SELECT", "INSERT", "INSERT"], statements
