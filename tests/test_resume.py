"""Gap-free resume: late tabs, reconnecting tabs, trimmed logs — every event once, in order."""

from __future__ import annotations

import asyncio
import random

import pytest

from .phoenix import PhoenixClient
from .streams import assert_contiguous, final_message, replay
from .system import Backend, System

RUN_ON_CLUSTER = True


async def until_seq(tab: PhoenixClient, topic: str, seq: int) -> None:
    """Wait until `tab` has been pushed the event numbered `seq`."""
    async with asyncio.timeout(60):
        while (await tab.next_event(topic))[1]["seq"] < seq:
            pass


@pytest.fixture
async def busy_system(backend: Backend):
    async with System(backend, chunk_delay=0.002, chunks=600) as running:
        yield running


async def test_five_tabs_joining_at_random_moments_of_a_600_chunk_stream_see_everything_once(
    busy_system: System,
) -> None:
    system = busy_system
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    rng = random.Random(7)
    watcher = await system.client()  # tells where the stream is: tabs join at drawn points of it
    await watcher.join(topic)

    async def late_tab() -> tuple[dict, list]:
        tab = await system.client()
        reply = await tab.join(topic)
        assert reply["status"] == "ok"
        return reply["response"], await tab.events_until(topic, within=60)

    posted = await system.post_message(session_id, "Stream a long answer")
    assert posted.status_code == 202
    tabs = []
    for point in sorted(rng.randint(3, 500) for _ in range(5)):
        await until_seq(watcher, topic, point)
        tabs.append(asyncio.create_task(late_tab()))
    results = await asyncio.gather(*tabs)
    contents = set()
    for reply, events in results:
        assert_contiguous(reply["seq"] + 1, events)
        final = final_message(events)
        assert replay(reply, events) == final["content"]
        contents.add(final["content"])
    assert len(contents) == 1
    assert sum(1 for reply, _ in results if reply["streaming"] and reply["streaming"]["content"]) >= 1


async def test_a_tab_that_reconnects_with_since_is_replayed_what_it_missed(busy_system: System) -> None:
    system = busy_system
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tab, watcher = await system.client(), await system.client()
    reply = (await tab.join(topic))["response"]
    await watcher.join(topic)
    await system.post_message(session_id, "Stream a long answer")
    seen = []
    while sum(1 for e, _ in seen if e == "streaming_chunk") < 50:
        seen.append(await tab.next_event(topic))
    await tab.close()
    content_before = replay(reply, seen)
    await until_seq(watcher, topic, seen[-1][1]["seq"] + 50)  # the stream goes on without the tab

    again = await system.client()
    since = {"seq": seen[-1][1]["seq"], "epoch": reply["epoch"]}
    rejoined = (await again.join(topic, {"since": since}))["response"]
    assert rejoined["recovered"] is True
    assert rejoined["seq"] == since["seq"]
    rest = await again.events_until(topic, within=60)
    assert_contiguous(reply["seq"] + 1, seen + rest)
    assert replay(reply, rest, start_content=content_before) == final_message(rest)["content"]


async def test_a_trimmed_log_answers_recovered_false_with_the_snapshot(backend: Backend) -> None:
    async with System(backend, chunk_delay=0.002, chunks=600, log_maxlen=20) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        tab, watcher = await system.client(), await system.client()
        reply = (await tab.join(topic))["response"]
        await watcher.join(topic)
        await system.post_message(session_id, "Stream a long answer")
        first = await tab.next_event(topic)
        await tab.close()
        # Past what the log keeps: 20 entries, or on Redis (approximate trimming, whole nodes
        # of 100 entries) fewer than 120.
        await until_seq(watcher, topic, first[1]["seq"] + 200)
        again = await system.client()
        rejoined = (await again.join(topic, {"since": {"seq": first[1]["seq"], "epoch": reply["epoch"]}}))["response"]
        assert rejoined["recovered"] is False
        rest = await again.events_until(topic, within=60)
        assert_contiguous(rejoined["seq"] + 1, rest)
        assert replay(rejoined, rest) == final_message(rest)["content"]


async def test_since_from_another_epoch_is_not_recovered(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tab = await system.client()
    reply = (await tab.join(topic, {"since": {"seq": 3, "epoch": "some-lost-history"}}))["response"]
    assert reply["recovered"] is False
    assert reply["epoch"] != "some-lost-history"


async def test_a_tab_joining_after_the_generation_sees_it_in_messages_and_nothing_twice(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    first = await system.client()
    await first.join(topic)
    await system.post_message(session_id, "hello")
    events = await first.events_until(topic)
    late = await system.client()
    reply = (await late.join(topic))["response"]
    assert reply["streaming"] is None
    assert reply["seq"] == events[-1][1]["seq"]
    assert [m["role"] for m in reply["messages"]] == ["user", "assistant"]
    assert reply["messages"][1]["content"] == final_message(events)["content"]


@pytest.mark.parametrize("since", [{"seq": -1, "epoch": "x"}, {"seq": "3", "epoch": "x"}, {"epoch": "x"}, "3"])
async def test_malformed_since_is_a_bad_request(system: System, since: object) -> None:
    session_id = await system.new_session()
    tab = await system.client()
    reply = await tab.join(f"ai_session:{session_id}", {"since": since})
    assert reply["status"] == "error"
    assert reply["response"]["reason"] == "bad_request"
