"""Worker processes that die or are told to stop: every generation still ends with one persisted message
and one `new_message`, with the content streamed so far.

Real `streamrelay worker` processes on real Redis and PostgreSQL, an in-process gateway, a local upstream.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
import pytest_asyncio
import redis.asyncio as redis

from schema import keys
from schema.store import WORKER_LOST
from workers.runner import SHUT_DOWN

from ..services import RedisServer
from ..system import Backend
from .conftest import ENDLESS
from .processes import ProcessSystem
from .sessions import WatchedSession
from .upstreams import Script, ScriptedUpstream, counted, counting

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLAIM_IDLE_SECONDS = 2
SLOW = "Take longer than a job may stay silent."
SLOW_CHUNKS = 22  # 4.4 s at 0.2 s each: over twice CLAIM_IDLE_SECONDS
BRIEF_WHILE = "Take two seconds."
BRIEF_CHUNKS = 20


@pytest.fixture(scope="module")
def scripts() -> Mapping[str, Script]:
    return {
        ENDLESS: counting(every=0.05),
        SLOW: counting(every=0.2, chunks=SLOW_CHUNKS),
        BRIEF_WHILE: counting(every=0.1, chunks=BRIEF_CHUNKS),
    }


@pytest_asyncio.fixture(loop_scope="module")
async def redis_postgres(redis_server: RedisServer, postgres: str) -> Backend:
    redis_server.flush()
    return Backend("redis-postgres", redis_server.url, postgres)


@pytest_asyncio.fixture(loop_scope="module")
async def claiming(
    redis_postgres: Backend, upstream: ScriptedUpstream, tmp_path: Path
) -> AsyncIterator[ProcessSystem]:
    """A gateway and one worker process; jobs silent for CLAIM_IDLE_SECONDS are taken over."""
    env = {"JOB_CLAIM_IDLE_SECONDS": str(CLAIM_IDLE_SECONDS)}
    async with ProcessSystem(redis_postgres, upstream.url, tmp_path, **env) as system:
        yield system


def assert_each_chunk_once_in_order(watched: WatchedSession) -> None:
    seqs = [payload["seq"] for _, payload in watched.seen]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert len(watched.events("message_processing")) == 1
    assert watched.streamed() == counted(len(watched.events("streaming_chunk")))


async def test_generation_of_a_killed_worker_is_taken_over_and_ends_interrupted_with_the_streamed_content(
    claiming: ProcessSystem, upstream: ScriptedUpstream
) -> None:
    doomed = claiming.processes[0]
    watched = await WatchedSession.open(claiming)
    message_id = await watched.ask(ENDLESS)
    await watched.until_chunks(3)
    await claiming.start_worker()
    killed_at = time.monotonic()
    await doomed.kill()

    seen = await watched.until("new_message", within=30)
    assert time.monotonic() - killed_at < CLAIM_IDLE_SECONDS + 10
    (error_event, failed), (_, final) = seen[-2:]
    assert error_event == "streaming_error"
    assert failed == {**failed, "error": WORKER_LOST, "partial_content": watched.streamed()}
    message = final["message"]
    assert (message["id"], message["status"], message["error"]) == (message_id, "interrupted", WORKER_LOST)
    assert message["content"] == watched.streamed()
    assert (await watched.messages())[-1] == message
    assert_each_chunk_once_in_order(watched)
    assert len(upstream.calls_for(message_id)) == 1, "the generation must not be started again"
    assert (await upstream.call(message_id)).hung_up.is_set()
    assert await watched.stays_quiet(0.5), "nothing may follow new_message"


async def watch_job_silence(url: str, done: asyncio.Event) -> tuple[float, int]:
    """Until `done`: the longest a pending job went without its worker's sign of life, and its most deliveries."""
    client = redis.Redis.from_url(url)
    silence, deliveries = 0.0, 0
    try:
        while not done.is_set():
            for entry in await client.xpending_range(keys.JOBS_STREAM, keys.JOBS_GROUP, "-", "+", 10):
                silence = max(silence, entry["time_since_delivered"] / 1000)
                deliveries = max(deliveries, entry["times_delivered"])
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
    return silence, deliveries


async def test_generation_longer_than_the_claim_idle_time_is_not_taken_over_while_its_worker_lives(
    claiming: ProcessSystem, upstream: ScriptedUpstream
) -> None:
    await claiming.start_worker()
    watched = await WatchedSession.open(claiming)
    done = asyncio.Event()
    watching = asyncio.create_task(watch_job_silence(claiming.backend.redis_url or "", done))
    message_id = await watched.ask(SLOW)

    seen = await watched.until("new_message", within=30)
    done.set()
    silence, deliveries = await watching
    message = seen[-1][1]["message"]
    assert (message["id"], message["status"], message["error"]) == (message_id, "success", None)
    assert message["content"] == watched.streamed() == counted(SLOW_CHUNKS)
    assert not watched.events("streaming_error")
    assert_each_chunk_once_in_order(watched)
    assert len(upstream.calls_for(message_id)) == 1
    assert silence < CLAIM_IDLE_SECONDS * 0.75, "the worker must keep its job alive"
    assert deliveries == 1, "no worker may claim a job whose worker lives"


async def pending_jobs(url: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return (await client.xpending(keys.JOBS_STREAM, keys.JOBS_GROUP))["pending"]
    finally:
        await client.aclose()


async def test_sigterm_lets_the_running_generation_finish_within_the_grace_period_then_exits(
    redis_postgres: Backend, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    async with ProcessSystem(redis_postgres, upstream.url, tmp_path, SHUTDOWN_GRACE_SECONDS="15") as system:
        worker = system.processes[0]
        watched = await WatchedSession.open(system)
        message_id = await watched.ask(BRIEF_WHILE)
        await watched.until_chunks(2)
        worker.signal(signal.SIGTERM)

        seen = await watched.until("new_message", within=20)
        message = seen[-1][1]["message"]
        assert (message["id"], message["status"]) == (message_id, "success")
        assert message["content"] == watched.streamed() == counted(BRIEF_CHUNKS)
        assert await worker.exit_code(within=10) == 0, worker.log()
        assert await pending_jobs(redis_postgres.redis_url or "") == 0


async def test_sigterm_past_the_grace_period_ends_the_generation_interrupted_with_the_streamed_content(
    redis_postgres: Backend, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    async with ProcessSystem(redis_postgres, upstream.url, tmp_path, SHUTDOWN_GRACE_SECONDS="1") as system:
        worker = system.processes[0]
        watched = await WatchedSession.open(system)
        message_id = await watched.ask(ENDLESS)
        await watched.until_chunks(3)
        worker.signal(signal.SIGTERM)

        seen = await watched.until("new_message", within=20)
        (error_event, failed), (_, final) = seen[-2:]
        assert error_event == "streaming_error"
        assert failed == {**failed, "error": SHUT_DOWN, "partial_content": watched.streamed()}
        message = final["message"]
        assert (message["id"], message["status"], message["error"]) == (message_id, "interrupted", SHUT_DOWN)
        assert message["content"] == watched.streamed()
        assert (await watched.messages())[-1] == message
        assert await worker.exit_code(within=10) == 0, worker.log()
        assert (await upstream.call(message_id)).hung_up.is_set()
        assert await pending_jobs(redis_postgres.redis_url or "") == 0, "nobody may take the finished job over"
