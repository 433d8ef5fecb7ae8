"""Presence on the session topic, as phoenix.js `Presence` expects it, on every gateway.

Not session events: no `seq`, not logged, not replayed. A tab that vanishes
without leaving is dropped after the presence TTL (45 s in production, short
here) and announced by any gateway with tabs in the session.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from .phoenix import PhoenixClient
from .system import Backend, System

RUN_ON_CLUSTER = True


def users(presences: dict[str, Any]) -> dict[str, int]:
    return {user: len(entry["metas"]) for user, entry in presences.items()}


async def presence_state(tab: PhoenixClient, topic: str) -> dict[str, Any]:
    event, payload = await tab.next_presence(topic)
    assert event == "presence_state", (event, payload)
    return payload


async def diff(tab: PhoenixClient, topic: str) -> dict[str, Any]:
    event, payload = await tab.next_presence(topic)
    assert event == "presence_diff", (event, payload)
    return payload


async def test_a_tab_gets_presence_state_then_diffs_as_tabs_come_and_go(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    alice = await system.client("alice")
    assert (await alice.join(topic))["status"] == "ok"
    state = await presence_state(alice, topic)
    assert users(state) == {"alice": 1}
    meta = state["alice"]["metas"][0]
    assert set(meta) == {"phx_ref", "joined_at"} and "seq" not in meta
    assert (await diff(alice, topic))["joins"] == state, "her own join comes as a diff too (as in Phoenix)"

    # A second gateway: presence crosses processes through the broker.
    second = await system.start_gateway()
    bob = await system.client("bob", url=second.url)
    await bob.join(topic)
    assert users(await presence_state(bob, topic)) == {"alice": 1, "bob": 1}
    joined = await diff(alice, topic)
    assert users(joined["joins"]) == {"bob": 1} and joined["leaves"] == {}

    await bob.push(topic, "phx_leave")
    left = await diff(alice, topic)
    assert users(left["leaves"]) == {"bob": 1} and left["joins"] == {}

    carol = await system.client("carol", url=second.url)
    await carol.join(topic)
    assert users((await diff(alice, topic))["joins"]) == {"carol": 1}
    await carol.close()  # closing the socket leaves as well
    assert users((await diff(alice, topic))["leaves"]) == {"carol": 1}


async def test_presence_is_neither_numbered_nor_replayed(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    alice = await system.client("alice")
    reply = (await alice.join(topic))["response"]
    bob = await system.client("bob")
    await bob.join(topic)
    await presence_state(alice, topic), await diff(alice, topic), await diff(alice, topic)  # her join, bob's
    await system.post_message(session_id, "hello")
    events = await alice.events_until(topic)
    assert [payload["seq"] for _, payload in events] == list(range(reply["seq"] + 1, reply["seq"] + 1 + len(events)))

    again = await system.client("alice")
    resumed = await again.join(topic, {"since": {"seq": reply["seq"], "epoch": reply["epoch"]}})
    assert resumed["response"]["recovered"] is True
    replayed = [await again.next_event(topic) for _ in events]
    assert replayed == events, "the replay holds the session's events and nothing of presence"


@pytest.fixture
async def quick_presence(backend: Backend) -> AsyncIterator[System]:
    """A system whose tabs are dropped from presence after 1 s of silence, checked every 0.1 s."""
    async with System(backend, presence_ttl_seconds=1.0, presence_interval_seconds=0.1) as running:
        yield running


async def keep_heartbeating(tab: PhoenixClient) -> None:
    while True:
        await tab.heartbeat()
        await asyncio.sleep(0.2)


async def test_a_tab_that_falls_silent_is_dropped_and_every_tab_told(quick_presence: System) -> None:
    system = quick_presence
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    watcher = await system.client("alice")
    await watcher.join(topic)
    await presence_state(watcher, topic), await diff(watcher, topic)
    silent = await system.client("bob")  # joins, then sends nothing: its connection died without a close
    await silent.join(topic)
    assert users((await diff(watcher, topic))["joins"]) == {"bob": 1}
    beating = asyncio.create_task(keep_heartbeating(watcher))
    try:
        left = await diff(watcher, topic)
    finally:
        beating.cancel()
    assert users(left["leaves"]) == {"bob": 1}
    assert users(left["joins"]) == {}


async def test_a_tab_of_a_vanished_gateway_expires_and_another_gateway_announces_it(quick_presence: System) -> None:
    system = quick_presence
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    watcher = await system.client("alice")
    await watcher.join(topic)
    await presence_state(watcher, topic), await diff(watcher, topic)
    # A gateway that tracked a tab and died: nobody refreshes or untracks it.
    broker = await system.publisher()
    meta = {"phx_ref": "ghost", "joined_at": "2026-11-28T03:00:00+00:00"}
    await broker.presence.track(session_id, "ghost", "ghost-user", meta, ttl=0.5)
    assert users((await diff(watcher, topic))["joins"]) == {"ghost-user": 1}
    beating = asyncio.create_task(keep_heartbeating(watcher))
    try:
        left = await diff(watcher, topic)
    finally:
        beating.cancel()
    assert left["leaves"] == {"ghost-user": {"metas": [meta]}}
