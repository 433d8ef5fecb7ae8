"""The job queue role's contract (`relay.broker.jobs`), and what only Redis's consumer group does."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as redis

from relay.broker import log
from relay.broker.base import Broker
from relay.broker.jobs import JobQueue
from relay.broker.redis import RedisBroker
from schema import events

from . import brokers
from .fake_redis import FakeRedisServer
from .services import RedisServer

broker = brokers.broker


@pytest.fixture
def jobs(broker: Broker) -> JobQueue:
    return broker.jobs


async def test_jobs_are_delivered_once_and_acknowledged(jobs: JobQueue) -> None:
    job_id = await jobs.enqueue({"session_id": "s", "message_id": "m"})
    [job] = await jobs.take("w1", 10, block_seconds=1)
    assert job.id == job_id and job.fields == {"session_id": "s", "message_id": "m"}
    assert await jobs.take("w2", 10, block_seconds=0.1) == []
    assert await jobs.counts() == (0, 1)
    await jobs.ack(job.id)
    assert await jobs.counts() == (0, 0)


async def test_redis_jobs_of_a_silent_worker_are_taken_over(redis_server: RedisServer) -> None:
    redis_server.flush()
    broker = RedisBroker(redis_server.url)
    await broker.start()
    try:
        await broker.jobs.enqueue({"session_id": "s", "message_id": "m"})
        [job] = await broker.jobs.take("lost-worker", 1, block_seconds=1)
        assert await broker.jobs.take_over("rescuer", 0.5, 10) == []
        await asyncio.sleep(0.6)
        await broker.jobs.keep_alive("lost-worker", [job.id])  # still alive after all
        assert await broker.jobs.take_over("rescuer", 0.5, 10) == []
        await asyncio.sleep(0.6)
        [taken] = await broker.jobs.take_over("rescuer", 0.5, 10)
        assert taken == job
    finally:
        await broker.close()


async def test_a_redis_job_read_blocked_when_the_stream_vanishes_goes_on(redis_server: RedisServer) -> None:
    """FLUSHALL (or a lost stream) while a worker waits for jobs: its read is answered UNBLOCKED, not a crash."""
    redis_server.flush()
    broker = RedisBroker(redis_server.url)
    await broker.start()
    client = redis.Redis.from_url(redis_server.url)
    try:
        waiting = asyncio.create_task(broker.jobs.take("w1", 1, block_seconds=30))
        async with asyncio.timeout(10):
            for _ in range(1000):  # poll: the blocked read shows only in Redis, in its list of clients
                if any("b" in c["flags"] and c["cmd"] == "xreadgroup" for c in await client.client_list()):
                    break
                await asyncio.sleep(0.01)
            await client.flushall()
            await broker.jobs.enqueue({"session_id": "s", "message_id": "m"})
            [job] = await waiting
        assert job.fields == {"session_id": "s", "message_id": "m"}
    finally:
        await client.aclose()
        await broker.close()


async def test_a_question_published_with_its_job_is_in_the_log_before_the_job_can_be_taken(broker: Broker) -> None:
    job = {"session_id": "s", "message_id": "a1", "user_message_id": "q1", "tenant": "acme"}
    await broker.event_log.publish_and_queue(broker.jobs, "s", events.USER_MESSAGE, "q1", {"message": {}}, job)
    [taken] = await broker.jobs.take("w1", 10, block_seconds=1)
    position = await broker.event_log.position("s", None)
    assert taken.fields == job
    assert position.snapshot.seq == 1
    assert await broker.jobs.take("w1", 10, block_seconds=0.1) == []


@pytest.mark.parametrize("server", ["fakeredis", "redis"])
async def test_a_retried_publish_with_its_job_publishes_and_queues_once(
    server: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A call whose reply was lost is repeated (the broker's guard): the script finds its event published and
    queues nothing more, where a publish and an XADD sent apart would queue the job twice."""
    if server == "fakeredis":
        fake = FakeRedisServer()
        broker = RedisBroker(fake.url, client_class=fake.client_class())
    else:
        redis_server: RedisServer = request.getfixturevalue("redis_server")
        redis_server.flush()
        broker = RedisBroker(redis_server.url)
    await broker.start()
    monkeypatch.setattr(log, "unique_id", lambda: "one-publish")
    try:
        job = {"session_id": "s", "message_id": "a1", "user_message_id": "q1", "tenant": "acme"}
        for _ in range(2):
            await broker.event_log.publish_and_queue(broker.jobs, "s", events.USER_MESSAGE, "q1", {}, job)
        assert len(await broker.jobs.take("w1", 10, block_seconds=0.1)) == 1
        assert (await broker.event_log.position("s", None)).snapshot.seq == 1
    finally:
        await broker.close()
