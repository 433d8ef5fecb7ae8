"""A worker frozen (SIGSTOP: a GC pause, a stalled VM, a partition) past the takeover of its generation, then
thawed: final is final. Nothing but one more `new_message` may follow the takeover's, its seq has no gap, and
SQL, the last `new_message` and a late joiner's history agree.

Real `streamrelay worker` processes on real Redis and PostgreSQL, an in-process gateway, a local upstream.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from schema.store import WORKER_LOST

from ..services import RedisServer
from ..system import Backend
from .conftest import BRIEF, ENDLESS
from .processes import ProcessSystem, WorkerProcess
from .sessions import Event, WatchedSession
from .upstreams import Script, ScriptedUpstream, counted, counting

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLAIM_IDLE_SECONDS = 2
FINISHING = "Answer in ten chunks."
FINISHING_CHUNKS = 10


@pytest.fixture(scope="module")
def scripts() -> Mapping[str, Script]:
    return {
        ENDLESS: counting(every=0.05),
        BRIEF: counting(every=0.01, chunks=3),
        FINISHING: counting(every=0.1, chunks=FINISHING_CHUNKS),
    }


@pytest_asyncio.fixture(loop_scope="module")
async def system(
    redis_server: RedisServer, postgres: str, upstream: ScriptedUpstream, tmp_path: Path
) -> AsyncIterator[ProcessSystem]:
    """A gateway and one worker process (tests start a second); jobs silent for CLAIM_IDLE_SECONDS are taken over."""
    redis_server.flush()
    backend = Backend("redis-postgres", redis_server.url, postgres)
    async with ProcessSystem(backend, upstream.url, tmp_path, JOB_CLAIM_IDLE_SECONDS=str(CLAIM_IDLE_SECONDS)) as system:
        yield system


def assert_final_is_final(watched: WatchedSession) -> dict[str, Any]:
    """No `streaming_*` after the first `new_message`, seq without gaps; the last `new_message`'s message."""
    seqs = [payload["seq"] for _, payload in watched.seen]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq must have no gaps"
    events = [event for event, _ in watched.seen]
    first_final = events.index("new_message")
    after = events[first_final:]
    assert set(after) == {"new_message"}, f"after the first new_message: {after}"
    assert len(after) <= 2, "at most one better record may replace the takeover's"
    return watched.seen[-1][1]["message"]


async def assert_record_agrees(watched: WatchedSession, final: dict[str, Any]) -> None:
    """SQL = the last `new_message` = a late joiner's history; the session takes the next question."""
    assert (await watched.messages())[-1] == final
    late = await watched.system.client()
    joined = await late.join(watched.topic)
    assert joined["status"] == "ok", joined
    assert joined["response"]["messages"][-1] == final
    assert joined["response"]["streaming"] is None
    next_id = await watched.ask(BRIEF)  # 202: not left busy
    seen = await watched.until("new_message")
    assert seen[-1][1]["message"]["id"] == next_id and seen[-1][1]["message"]["status"] == "success"


async def settled(watched: WatchedSession, quiet: float = 1.0) -> None:
    """Read what is pushed until nothing more is for `quiet` seconds."""
    while not await watched.stays_quiet(quiet):
        watched.seen.append(await watched.tab.next_event(watched.topic, 1))


async def frozen_past_the_takeover(watched: WatchedSession, worker: WorkerProcess) -> list[Event]:
    """SIGSTOP `worker`, wait for the takeover's `new_message`, SIGCONT it; the events up to the takeover's end."""
    worker.signal(signal.SIGSTOP)
    try:
        return await watched.until("new_message", within=30)
    finally:
        worker.signal(signal.SIGCONT)


async def test_a_worker_frozen_mid_answer_publishes_nothing_after_the_takeover_and_closes_its_upstream(
    system: ProcessSystem, upstream: ScriptedUpstream
) -> None:
    watched = await WatchedSession.open(system)
    message_id = await watched.ask(ENDLESS)
    await watched.until_chunks(3)
    call = await upstream.call(message_id)
    await system.start_worker()

    taken_over = await frozen_past_the_takeover(watched, system.processes[0])
    assert taken_over[-1][1]["message"]["error"] == WORKER_LOST
    await asyncio.wait_for(call.hung_up.wait(), 10)  # the thawed worker stopped its upstream request at once
    assert await watched.stays_quiet(1.0), "a fenced worker publishes nothing more"

    final = assert_final_is_final(watched)
    assert (final["id"], final["status"], final["content"]) == (message_id, "interrupted", watched.streamed())
    await assert_record_agrees(watched, final)


async def test_a_worker_frozen_in_its_final_write_ends_the_message_once_with_its_whole_answer(
    system: ProcessSystem, postgres: str
) -> None:
    watched = await WatchedSession.open(system)
    message_id = await watched.ask(FINISHING)
    await watched.until_chunks(1)
    writer = system.processes[0]
    engine = create_async_engine(postgres)
    try:
        async with engine.connect() as holder:
            lock = await holder.begin()  # holds the answer's row, so that its final write waits for it
            await holder.execute(text("SELECT id FROM chat_messages WHERE id = :id FOR UPDATE"), {"id": message_id})
            await final_write_waiting(engine)
            writer.signal(signal.SIGSTOP)
            await lock.rollback()  # its UPDATE runs now, and waits for the frozen worker's COMMIT
        taking_over = await system.start_worker()
        await taking_over.until_logged("taking over job", within=15)  # which then waits for the row in turn
    finally:
        writer.signal(signal.SIGCONT)
        await engine.dispose()

    await watched.until("new_message", within=30)
    await settled(watched)
    final = assert_final_is_final(watched)
    assert (final["id"], final["status"], final["content"]) == (message_id, "success", counted(FINISHING_CHUNKS))
    await assert_record_agrees(watched, final)


async def final_write_waiting(engine: Any) -> None:
    """Until an UPDATE of a message waits for a lock: the worker's final write (the only writer meanwhile)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE 'UPDATE chat_messages%'"
    )
    async with asyncio.timeout(15):
        while True:
            async with engine.connect() as probe:
                if (await probe.execute(query)).scalar_one():
                    return
            await asyncio.sleep(0.05)
