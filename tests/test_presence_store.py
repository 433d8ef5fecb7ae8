"""One presence contract, two stores: memory and Redis (and Redis Cluster) pass the same tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from relay.broker.presence import PresenceStore
from relay.broker.presence_memory import MemoryPresence
from relay.broker.presence_redis import RedisPresence
from relay.broker.redis import RedisBroker
from schema import keys
from schema.presence_codec import Presences, decode_diff, is_diff

from .services import RedisCluster, RedisServer

SESSION = "s-presence"
TOPIC = keys.topic(SESSION)


class Diffs:
    """The presence diffs broadcast on the session's topic, as the gateways receive them."""

    def __init__(self) -> None:
        self.received: list[dict[str, Presences]] = []
        self.arrived = asyncio.Event()

    def deliver(self, topic: str, data: bytes) -> None:
        assert topic == TOPIC and is_diff(data)
        self.received.append(decode_diff(data))
        self.arrived.set()

    def resubscribed(self) -> None:
        """Not expected here: the tests keep Redis up."""

    async def next(self) -> dict[str, Presences]:
        async with asyncio.timeout(10):
            while not self.received:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received.pop(0)


@pytest.fixture(params=["memory", "redis", "cluster"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[tuple[PresenceStore, Diffs]]:
    """A store, and the diffs its broadcasts bring to a gateway subscribed to the session (real pub/sub)."""
    diffs = Diffs()
    if request.param == "memory":
        yield MemoryPresence(diffs.deliver), diffs
        return
    cluster = request.param == "cluster"
    server: RedisServer | RedisCluster = request.getfixturevalue("redis_cluster" if cluster else "redis_server")
    server.flush()
    broker = RedisBroker(server.url, cluster=cluster)
    await broker.start()
    await broker.event_log.subscribe(TOPIC, diffs)
    yield RedisPresence(broker.connection.redis, broker.connection.call, cluster), diffs
    await broker.close()


def meta(ref: str, **extra: Any) -> dict[str, Any]:
    return {"phx_ref": ref, "joined_at": "2026-11-28T03:00:00Z", **extra}


async def test_a_tracked_tab_is_listed_and_its_join_broadcast(store: tuple[PresenceStore, Diffs]) -> None:
    presence, diffs = store
    first = await presence.track(SESSION, "r1", "alice", meta("r1", name="Alice"), ttl=60)
    assert first == {"alice": {"metas": [meta("r1", name="Alice")]}}, "the state includes the new tab"
    assert await diffs.next() == {"joins": {"alice": {"metas": [meta("r1", name="Alice")]}}, "leaves": {}}
    await presence.track(SESSION, "r2", "alice", meta("r2"), ttl=60)
    state = await presence.track(SESSION, "r3", "bob", meta("r3"), ttl=60)
    assert state == await presence.list(SESSION)
    assert sorted(m["phx_ref"] for m in state["alice"]["metas"]) == ["r1", "r2"], "one user, two tabs"
    assert state["bob"] == {"metas": [meta("r3")]}
    assert await presence.list("another-session") == {}


async def test_an_untracked_tab_leaves_once(store: tuple[PresenceStore, Diffs]) -> None:
    presence, diffs = store
    await presence.track(SESSION, "r1", "alice", meta("r1"), ttl=60)
    await diffs.next()
    await presence.untrack(SESSION, "r1", "alice", meta("r1"))
    await presence.untrack(SESSION, "r1", "alice", meta("r1"))
    await presence.track(SESSION, "r2", "bob", meta("r2"), ttl=60)  # a marker: no second leave came before it
    assert await diffs.next() == {"joins": {}, "leaves": {"alice": {"metas": [meta("r1")]}}}
    assert (await diffs.next())["joins"] == {"bob": {"metas": [meta("r2")]}}
    assert await presence.list(SESSION) == {"bob": {"metas": [meta("r2")]}}


async def test_an_expired_tab_is_not_listed_and_is_reaped_once(store: tuple[PresenceStore, Diffs]) -> None:
    """A tab whose gateway vanished is never refreshed: it expires, and one reaper announces its leave."""
    presence, diffs = store
    await presence.track(SESSION, "gone", "alice", meta("gone"), ttl=0)
    await presence.track(SESSION, "here", "bob", meta("here"), ttl=60)
    await diffs.next(), await diffs.next()
    assert await presence.list(SESSION) == {"bob": {"metas": [meta("here")]}}
    await asyncio.gather(presence.keep({SESSION: {}}), presence.keep({SESSION: {}}))
    await presence.untrack(SESSION, "here", "bob", meta("here"))
    assert await diffs.next() == {"joins": {}, "leaves": {"alice": {"metas": [meta("gone")]}}}
    assert (await diffs.next())["leaves"] == {"bob": {"metas": [meta("here")]}}, "the expired tab left only once"


async def test_refresh_keeps_a_present_tab_but_never_revives_a_gone_one(store: tuple[PresenceStore, Diffs]) -> None:
    presence, _ = store
    await presence.track(SESSION, "kept", "alice", meta("kept"), ttl=0)
    await presence.track(SESSION, "gone", "bob", meta("gone"), ttl=60)
    await presence.untrack(SESSION, "gone", "bob", meta("gone"))
    await presence.keep({SESSION: {"kept": 60, "gone": 60}, "another-session": {}})
    assert await presence.list(SESSION) == {"alice": {"metas": [meta("kept")]}}


async def test_many_tabs_untracked_at_once_each_leave_once(store: tuple[PresenceStore, Diffs]) -> None:
    """A gateway's sockets dropping together: one call for all of them, one leave per tab that was present."""
    presence, diffs = store
    for ref in ("r1", "r2", "r3"):
        await presence.track(SESSION, ref, "alice", meta(ref), ttl=60)
        await diffs.next()
    ended = await presence.untrack_many([(SESSION, ref, "alice", meta(ref)) for ref in ("r1", "r2", "r1")])
    assert ended == [None, None, None]
    await presence.track(SESSION, "r4", "bob", meta("r4"), ttl=60)  # a marker: no third leave came before it
    assert [await diffs.next() for _ in range(2)] == [
        {"joins": {}, "leaves": {"alice": {"metas": [meta(ref)]}}} for ref in ("r1", "r2")
    ]
    assert (await diffs.next())["joins"] == {"bob": {"metas": [meta("r4")]}}
    assert await presence.list(SESSION) == {"alice": {"metas": [meta("r3")]}, "bob": {"metas": [meta("r4")]}}


async def test_a_gateway_keeps_hundreds_of_sessions_in_round_trips_of_at_most_100(
    store: tuple[PresenceStore, Diffs],
) -> None:
    """One pipeline for every session would hold Redis, and the gateway's loop, for hundreds of ms at once."""
    presence, _ = store
    if not isinstance(presence, RedisPresence):
        return  # in memory nothing is held: each session is a dict lookup
    sessions = [f"{SESSION}-{i}" for i in range(250)]
    for i, session_id in enumerate(sessions):
        await presence.track(session_id, f"r{i}", "alice", meta(f"r{i}"), ttl=0.5)
    sizes: list[int] = []
    if isinstance(presence, RedisPresence) and not presence.cluster:
        pipelined = presence._pipelined

        async def recorded(calls: list[tuple[str, list[Any]]]) -> list[Any]:
            sizes.append(len(calls))
            return await pipelined(calls)

        presence._pipelined = recorded  # type: ignore[method-assign]
    await presence.keep({session_id: {f"r{i}": 60.0} for i, session_id in enumerate(sessions)})
    assert sum(sizes) in (0, 250) and max(sizes, default=0) <= 100
    await asyncio.sleep(0.6)
    assert all([(await presence.list(session_id)) for session_id in (sessions[0], sessions[-1])]), "all kept"
