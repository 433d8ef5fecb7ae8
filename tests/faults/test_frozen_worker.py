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
import redis.asyncio as redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from schema import keys
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
    answered = await watched.system.ask(watched.session_id, BRIEF)  # not left busy
    assert answered["status"] == "success"


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


async def test_a_worker_frozen_past_the_takeover_and_the_history_ttl_opens_no_new_history_for_its_message(
    redis_server: RedisServer, postgres: str, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    """Thawed after the session's Redis keys expired: nothing is left to fence against, so the worker asks SQL,
    finds its message finished, and stops, instead of publishing the message again into a new history."""
    redis_server.flush()
    backend = Backend("redis-postgres", redis_server.url, postgres)
    env = {"JOB_CLAIM_IDLE_SECONDS": str(CLAIM_IDLE_SECONDS), "HISTORY_TTL_SECONDS": "3"}
    system = ProcessSystem(backend, upstream.url, tmp_path, **env)
    system.settings = system.settings.with_(history_ttl_seconds=3)
    async with system:
        watched = await WatchedSession.open(system)
        message_id = await watched.ask(ENDLESS)
        await watched.until_chunks(3)
        call = await upstream.call(message_id)
        frozen = system.processes[0]
        await system.start_worker()
        frozen.signal(signal.SIGSTOP)
        try:
            await watched.until("new_message", within=30)
            await keys_expired(redis_server.url, watched.session_id)
        finally:
            frozen.signal(signal.SIGCONT)
        await asyncio.wait_for(call.hung_up.wait(), 10)
        await frozen.until_logged("publishing no more of it", within=10)
        assert await watched.stays_quiet(1.0)
        final = assert_final_is_final(watched)
        assert (final["id"], final["error"]) == (message_id, WORKER_LOST)
        await assert_record_agrees(watched, final)


async def keys_expired(url: str, session_id: str, within: float = 15) -> None:
    client = redis.Redis.from_url(url)
    try:
        async with asyncio.timeout(within):
            while True:
                if not await client.exists(keys.live_key(session_id), keys.log_key(session_id)):
                    return
                await asyncio.sleep(0.2)
    finally:
        await client.aclose()
