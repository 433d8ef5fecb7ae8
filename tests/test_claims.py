"""Exactly-once changes: one `granted: true` per session and change id, ever."""

from __future__ import annotations

import asyncio

import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from schema.events import change_id

from .system import System

RUN_ON_CLUSTER = True


async def test_ten_tabs_racing_to_claim_a_change_get_exactly_one_grant(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tabs = [await system.client(user=f"user{i}") for i in range(10)]
    for tab in tabs:
        assert (await tab.join(topic))["status"] == "ok"
    await system.post_message(session_id, "Build me a workflow")

    async def claim_when_offered(tab) -> tuple[str, bool]:
        while True:
            event, payload = await tab.next_event(topic)
            if event == "streaming_changes":
                assert payload["applied"] is False
                assert payload["change_id"] == change_id(payload["message_id"], payload["changes"])
                reply = await tab.push(topic, "claim_changes", {"change_id": payload["change_id"]})
                assert reply["status"] == "ok"
                return payload["change_id"], reply["response"]["granted"]

    outcomes = await asyncio.gather(*(claim_when_offered(tab) for tab in tabs))
    claimed_id = outcomes[0][0]
    assert {cid for cid, _ in outcomes} == {claimed_id}
    assert sum(granted for _, granted in outcomes) == 1

    final = (await tabs[0].events_until(topic))[-1][1]["message"]
    assert [c["applied"] for c in final["changes"] if c["change_id"] == claimed_id] == [True]

    # The final message offering the same change, and a reload: never granted again.
    again = await tabs[1].push(topic, "claim_changes", {"change_id": claimed_id})
    assert again["response"]["granted"] is False
    reloaded = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    assistant = reloaded.json()["messages"][-1]
    assert [c["applied"] for c in assistant["changes"] if c["change_id"] == claimed_id] == [True]


async def test_a_claim_survives_redis_losing_its_keys(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tab = await system.client()
    await tab.join(topic)
    await system.post_message(session_id, "Build me a workflow")
    events = await tab.events_until(topic)
    cid = next(p["change_id"] for e, p in events if e == "streaming_changes")
    assert (await tab.push(topic, "claim_changes", {"change_id": cid}))["response"]["granted"] is True
    await forget_broker_state(system)
    assert (await tab.push(topic, "claim_changes", {"change_id": cid}))["response"]["granted"] is False
    late = await system.client()
    reply = (await late.join(topic))["response"]
    assert [c["applied"] for c in reply["messages"][-1]["changes"]] == [True]


async def forget_broker_state(system: System) -> None:
    """What a Redis restart without persistence does: every key gone."""
    if system.shared_broker is not None:
        system.shared_broker.sessions.sessions.entries.clear()  # type: ignore[attr-defined]
    elif system.settings.redis_cluster:
        cluster = RedisCluster.from_url(system.settings.redis_url)
        await cluster.flushall(target_nodes=RedisCluster.ALL_NODES)
        await cluster.aclose()
    else:
        client = redis.Redis.from_url(system.settings.redis_url)
        await client.flushall()
        await client.aclose()


async def test_the_same_change_in_two_sessions_is_two_changes_and_neither_is_claimable_in_the_other(
    system: System,
) -> None:
    first, second = await system.new_session(), await system.new_session()
    tab = await system.client()
    ids = []
    for session_id in (first, second):
        await tab.join(f"ai_session:{session_id}")
        answer = await system.ask(session_id, "Build me a workflow")
        ids.append(answer["changes"][0]["change_id"])
    assert ids[0] != ids[1]
    assert (await tab.push(f"ai_session:{first}", "claim_changes", {"change_id": ids[1]}))["response"] == {
        **NOT_FOUND, "message": "No message of this session proposes that change.",
    }  # fmt: skip
    for session_id, cid in zip((first, second), ids, strict=True):
        assert (await tab.push(f"ai_session:{session_id}", "claim_changes", {"change_id": cid}))["response"]["granted"]


NOT_FOUND = {"reason": "not_found"}


async def test_a_claim_of_a_change_no_message_proposes_is_refused_not_found_and_writes_nothing(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tab, other = await system.client(), await system.client("bob")
    for joined in (tab, other):
        await joined.join(topic)
    answer = await system.ask(session_id, "Build me a workflow")
    await other.events_until(topic)
    position = await (await system.publisher()).event_log.snapshot(session_id)
    made_up = [change_id("another-message", answer["changes"][0]["changes"]), "ab" * 32]
    for cid in made_up:
        reply = await tab.push(topic, "claim_changes", {"change_id": cid})
        assert (reply["status"], reply["response"]["reason"]) == ("error", "not_found")
    assert (await (await system.publisher()).event_log.snapshot(session_id)).seq == position.seq, "nothing published"
    assert other.queue(topic).empty()
    for cid in made_up:  # nor taken: the change id stays free in Redis
        assert await (await system.publisher()).grants.grant(session_id, cid) is True
    reloaded = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    assert {c["applied"] for c in reloaded.json()["messages"][-1]["changes"]} == {False}


async def test_a_later_answer_proposing_the_same_change_again_is_a_new_change_not_yet_applied(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tab = await system.client()
    await tab.join(topic)
    first = await system.ask(session_id, "Build me a workflow")
    claimed = first["changes"][0]
    assert (await tab.push(topic, "claim_changes", {"change_id": claimed["change_id"]}))["response"]["granted"]
    again = await system.ask(session_id, "Build me a workflow")
    same = [c for c in again["changes"] if c["changes"] == claimed["changes"]]
    assert same and same[0]["change_id"] != claimed["change_id"]
    assert same[0]["applied"] is False
    assert (await tab.push(topic, "claim_changes", {"change_id": same[0]["change_id"]}))["response"]["granted"]


async def test_a_malformed_change_id_is_a_bad_request(system: System) -> None:
    session_id = await system.new_session()
    tab = await system.client()
    await tab.join(f"ai_session:{session_id}")
    reply = await tab.push(f"ai_session:{session_id}", "claim_changes", {"change_id": 42})
    assert reply["status"] == "error"
    assert reply["response"]["reason"] == "bad_request"


async def test_a_granted_claim_is_announced_to_every_tab_as_changes_applied(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    alice, bob = await system.client("alice"), await system.client("bob")
    for tab in (alice, bob):
        await tab.join(topic)
    await system.post_message(session_id, "Build me a workflow")
    seen = await bob.events_until(topic)
    cid = next(p["change_id"] for e, p in seen if e == "streaming_changes")
    await alice.events_until(topic)

    assert (await alice.push(topic, "claim_changes", {"change_id": cid}))["response"]["granted"] is True
    assert (await bob.push(topic, "claim_changes", {"change_id": cid}))["response"]["granted"] is False
    for tab in (alice, bob):
        event, payload = await tab.next_event(topic)
        assert (event, payload["change_id"], payload["user_id"]) == ("changes_applied", cid, "alice")
        assert payload["seq"] == seen[-1][1]["seq"] + 1, "a numbered, logged session event"
    assert bob.queue(topic).empty(), "announced once: the refused claim announces nothing"
