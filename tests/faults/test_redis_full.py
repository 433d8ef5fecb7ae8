"""Redis at its `maxmemory` (noeviction): writes answer 503 `unavailable` in a sentence, the answer running
ends with its text persisted, nothing persisted is lost, and all works again once Redis has room.

The test's own `redis-server` with a small `maxmemory`, PostgreSQL, an in-process gateway and worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis
from redis.exceptions import OutOfMemoryError

from relay.broker.base import OUT_OF_MEMORY
from workers.patience import BROKER_FULL

from ..services import RedisServer
from ..system import Backend, System

MAXMEMORY = 8 * 1024 * 1024
FILLER = "filler:"
LONG = {"chunks": 400, "delay": 0.05}  # the demo upstream's script: an answer still running when Redis fills up


@pytest.fixture
async def small_redis() -> AsyncIterator[RedisServer]:
    server = RedisServer()
    server.start(["--maxmemory", str(MAXMEMORY), "--maxmemory-policy", "noeviction"])
    yield server
    server.stop()


async def fill(url: str) -> None:
    """Write filler keys until Redis refuses one: it is at its `maxmemory`. Then hold it there: the cap comes
    down to what Redis uses, so that the few bytes freed meanwhile (a job acknowledged, a log trimmed) do not
    let a write through now and then."""
    client = redis.Redis.from_url(url)
    try:
        for n in range(100_000):
            try:
                await client.set(f"{FILLER}{n}", b"x" * 65536)
            except OutOfMemoryError:
                used = (await client.info("memory"))["used_memory"]
                await client.config_set("maxmemory", min(used, MAXMEMORY) - 64 * 1024)
                return
        raise AssertionError("Redis never filled up")
    finally:
        await client.aclose()


async def make_room(url: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        await client.config_set("maxmemory", MAXMEMORY)
        filler = [key async for key in client.scan_iter(f"{FILLER}*", count=1000)]
        await client.delete(*filler)
    finally:
        await client.aclose()


async def test_with_redis_full_writes_get_a_sentence_the_running_answer_is_persisted_and_nothing_is_lost(
    small_redis: RedisServer, postgres_url: str
) -> None:
    backend = Backend("redis-postgres", small_redis.url, postgres_url)
    async with System(backend, job_claim_idle_seconds=1.0) as system:
        earlier = await system.new_session()  # its answers are quick; only the one Redis fills under is long
        answered = await system.ask(earlier, "A first question")
        session_id = await system.new_session(context={"demo": LONG})
        topic = f"ai_session:{session_id}"
        tab = await system.client()
        await tab.join(topic)
        message_id = (await system.post_message(session_id, "A long answer, please")).json()["response_message_id"]
        streamed = []
        while len(streamed) < 5:
            event, payload = await tab.next_event(topic)
            if event == "streaming_chunk":
                streamed.append(payload["content"])

        await fill(small_redis.url)
        refused = await system.post_message(earlier, "Another question")
        assert (refused.status_code, refused.json()) == (503, {"code": "unavailable", "error": OUT_OF_MEMORY})
        stored = await ended(system, session_id, message_id)  # the running answer ends, its text persisted
        assert (stored["status"], stored["error"]) == ("interrupted", BROKER_FULL)
        assert stored["content"].startswith("".join(streamed))

        await make_room(small_redis.url)
        final = (await tab.events_until(topic, within=30))[-1][1]["message"]  # announced once there is room
        assert final == await message(system, session_id, message_id)
        again = await system.ask(earlier, "Another question")
        assert again["status"] == "success"
        history = await system.http.get(f"/api/sessions/{earlier}/messages", headers=system.auth())
    contents = [m["content"] for m in history.json()["messages"]]
    assert answered["content"] in contents, "nothing persisted is lost"


async def ended(system: System, session_id: str, message_id: str, within: float = 20) -> dict:
    """The message once it is no longer `processing` (read from SQL, as a tab that missed its end would)."""
    async with asyncio.timeout(within):
        while True:
            stored = await message(system, session_id, message_id)
            if stored["status"] != "processing":
                return stored
            await asyncio.sleep(0.1)


async def message(system: System, session_id: str, message_id: str) -> dict:
    response = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    return next(m for m in response.json()["messages"] if m["id"] == message_id)
