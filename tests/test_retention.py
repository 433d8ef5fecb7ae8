"""Redis holds what is live: a session's state expires `HISTORY_TTL_SECONDS` after its last event, and a join
after that reads SQL, the whole final message included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import msgpack
import pytest
import redis.asyncio as redis

from relay.broker.base import Broker
from relay.broker.memory import MemoryBroker
from relay.broker.redis import RedisBroker
from schema import events, keys

from .fake_redis import FakeRedisServer
from .services import RedisServer
from .system import Backend, System

TTL_SECONDS = 1


def session_keys(session_id: str) -> list[str]:
    return [*keys.session_keys(session_id), *keys.expiring_keys(session_id)]


async def memory_usage(url: str, session_id: str) -> int:
    """What the session's keys cost Redis (`MEMORY USAGE` of each, 0 for a key that is gone)."""
    client = redis.Redis.from_url(url)
    try:
        return sum([await client.memory_usage(key) or 0 for key in session_keys(session_id)])
    finally:
        await client.aclose()


async def holds_nothing(url: str, session_id: str) -> bool:
    return await memory_usage(url, session_id) == 0


@pytest.fixture(params=["memory", "fakeredis", "redis"])
async def expiring(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    """A broker whose sessions expire TTL_SECONDS after their last event."""
    if request.param == "memory":
        chosen: Broker = MemoryBroker(ttl_seconds=TTL_SECONDS)
    elif request.param == "fakeredis":
        fake = FakeRedisServer()
        chosen = RedisBroker(fake.url, ttl_seconds=TTL_SECONDS, client_class=fake.client_class())
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flush()
        chosen = RedisBroker(server.url, ttl_seconds=TTL_SECONDS)
    await chosen.start()
    yield chosen
    await chosen.close()


async def eventually(condition: Callable[[], Awaitable[bool]], within: float = TTL_SECONDS * 5) -> None:
    """Return once `condition()` holds (an expiry is Redis's to run: polled, within a bound)."""
    async with asyncio.timeout(within):
        while True:
            if await condition():
                return
            await asyncio.sleep(0.1)


async def until_expired(broker: Broker, session_id: str) -> None:
    async def expired() -> bool:
        return not (await broker.event_log.position(session_id, None)).snapshot.epoch

    await eventually(expired)


async def test_a_quiet_session_forgets_its_log_snapshot_page_and_claims(expiring: Broker) -> None:
    await expiring.event_log.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"}, lease=1)
    await expiring.event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "half an answ"}, lease=1)
    await expiring.event_log.store_attachment("s", b"page")
    assert await expiring.grants.grant("s", "c1") is True
    epoch = (await expiring.event_log.snapshot("s")).epoch

    await until_expired(expiring, "s")
    position = await expiring.event_log.position("s", (epoch, 1))
    assert (position.snapshot.epoch, position.replayed, position.attachment, position.snapshot.streaming) == (
        "", None, None, None,
    )  # fmt: skip
    assert await expiring.grants.grant("s", "c1") is True, "the claim set expired too (SQL keeps the grant)"


async def test_every_event_renews_the_whole_session(expiring: Broker) -> None:
    await expiring.event_log.store_attachment("s", b"page")
    for _ in range(4):  # past the TTL in all, never quiet for as long
        await expiring.event_log.publish("s", events.STREAMING_STATUS, "m1", {"text": "still here"})
        await asyncio.sleep(TTL_SECONDS / 2)
    position = await expiring.event_log.position("s", None)
    assert (position.snapshot.seq, position.attachment) == (4, b"page")


async def test_after_the_ttl_a_session_holds_no_redis_memory_and_a_tab_resuming_mid_answer_gets_it_whole(
    redis_server: RedisServer, postgres_url: str
) -> None:
    redis_server.flush()
    backend = Backend("redis-postgres", redis_server.url, postgres_url)
    async with System(backend, history_ttl_seconds=TTL_SECONDS) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        tab = await system.client()
        await tab.join(topic)
        await system.post_message(session_id, "Tell me about workflows")
        event, payload = await tab.next_event(topic)
        while event != "streaming_chunk":
            event, payload = await tab.next_event(topic)
        since = {"seq": payload["seq"], "epoch": (await tab.join(topic))["response"]["epoch"]}
        final = (await tab.events_until(topic))[-1][1]["message"]
        await tab.close()
        assert await memory_usage(redis_server.url, session_id) > 0

        await eventually(lambda: holds_nothing(redis_server.url, session_id))
        resumed = await (await system.client()).join(topic, {"since": since})
    reply = resumed["response"]
    assert (reply["recovered"], reply["streaming"]) == (False, None)
    assert reply["epoch"] != since["epoch"]
    assert reply["messages"][-1] == final
    assert final["status"] == "success" and final["content"]


async def test_a_logged_chunk_costs_redis_its_payload_and_at_most_64_bytes(redis_server: RedisServer) -> None:
    redis_server.flush()
    broker = RedisBroker(redis_server.url)
    await broker.start()
    try:
        await broker.event_log.publish("s", events.MESSAGE_PROCESSING, "m" * 36, {"session_id": "s"}, lease=1)
        client = redis.Redis.from_url(redis_server.url)
        empty = await client.memory_usage(keys.log_key("s"), samples=0)
        chunk = {"content": "forty bytes of an answer, streamed now. "}
        for _ in range(1000):
            await broker.event_log.publish("s", events.STREAMING_CHUNK, "m" * 36, chunk, lease=1)
        full = await client.memory_usage(keys.log_key("s"), samples=0)
        await client.aclose()
    finally:
        await broker.close()
    per_chunk = (full - empty) / 1000
    assert per_chunk <= len(msgpack.packb(chunk)) + 64, per_chunk


async def test_a_member_flooding_patches_leaves_the_session_a_bounded_redis_cost(
    redis_server: RedisServer, postgres_url: str
) -> None:
    """40 PATCHes of a 200 KB context: the log is capped in bytes, so the session's keys stay under 1.5 MiB;
    a context over CONTEXT_MAX_BYTES is refused 413 and changes nothing."""
    redis_server.flush()
    async with System(Backend("redis-postgres", redis_server.url, postgres_url)) as system:
        session_id = await system.new_session()
        tab = await system.client()
        await tab.join(f"ai_session:{session_id}")  # the page is cached too
        revision = 1
        for n in range(40):
            context = {"job_code": f"// version {n}\n" + "x" * 200_000}
            patched = await system.http.patch(
                f"/api/sessions/{session_id}", json={"revision": revision, "context": context}, headers=system.auth()
            )
            assert patched.status_code == 200, patched.text
            revision = patched.json()["session"]["revision"]
        await (await system.client()).join(f"ai_session:{session_id}")
        cost = await memory_usage(redis_server.url, session_id)
        too_large = await system.http.patch(
            f"/api/sessions/{session_id}",
            json={"revision": revision, "context": {"job_code": "x" * (256 * 1024)}},
            headers=system.auth(),
        )
        session = (await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())).json()["session"]
        created = await system.http.post(
            "/api/sessions", json={"context": {"job_code": "é" * (128 * 1024 + 1)}}, headers=system.auth()
        )  # 256 KiB + 2 bytes of UTF-8
    assert (created.status_code, created.json()["code"]) == (413, "too_large")
    assert cost <= 1.5 * 1024 * 1024, cost
    assert (too_large.status_code, too_large.json()["code"]) == (413, "too_large")
    assert "at most 262,144 bytes" in too_large.json()["error"]
    assert (session["revision"], session["context"]["job_code"][:13]) == (revision, "// version 39")


async def test_every_key_a_burst_of_events_leaves_expires(expiring: Broker) -> None:
    """Keys the answer creates between renewals (its content, its changes) are given their expiry as they are made."""
    log = expiring.event_log
    await log.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"}, lease=1)
    await log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "half an answ"}, lease=1)
    change = {"changes": {"yaml": "a: 1"}, "change_id": "c1", "applied": False}
    await log.publish("s", events.STREAMING_CHANGES, "m1", change, lease=1)
    await log.store_attachment("s", b"page")
    assert await expiring.grants.grant("s", "c1") is True
    if isinstance(expiring, RedisBroker):
        client = expiring.connection.redis
        expiries = {key: await client.ttl(key) for key in session_keys("s") if await client.exists(key)}
        assert len(expiries) == 6 and all(ttl > 0 for ttl in expiries.values()), expiries
    await until_expired(expiring, "s")
    assert (await log.position("s", None)).snapshot.streaming is None


async def test_a_burst_of_events_renews_the_sessions_keys_about_once_a_second(redis_server: RedisServer) -> None:
    """Six EXPIREs per event were a quarter of the publish script's cost: renewing once a second is enough when
    every key lives a second longer than the ttl (`test_every_event_renews_the_whole_session` holds)."""
    redis_server.flush()
    broker = RedisBroker(redis_server.url)
    await broker.start()
    client = redis.Redis.from_url(redis_server.url)
    try:
        await broker.event_log.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"}, lease=1)
        await client.config_resetstat()
        started = asyncio.get_running_loop().time()
        for _ in range(100):
            await broker.event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "a few words "}, lease=1)
        seconds = asyncio.get_running_loop().time() - started
        expires = (await client.info("commandstats")).get("cmdstat_expire", {"calls": 0})["calls"]
    finally:
        await client.aclose()
        await broker.close()
    assert expires <= 6 * (int(seconds) + 2) + 1, f"{expires} EXPIREs for 100 events in {seconds:.2f} s"
