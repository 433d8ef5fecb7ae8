"""A gateway whose Redis restarts never goes deaf: it resubscribes and makes its tabs rejoin."""

from __future__ import annotations

import asyncio

from ..services import RedisServer
from ..streams import final_message
from ..system import Backend, System


async def test_after_a_redis_restart_tabs_are_told_to_rejoin_and_streaming_works_again(
    private_redis: RedisServer, postgres_url: str
) -> None:
    async with System(Backend("redis-restart", private_redis.url, postgres_url)) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        tab = await system.client()
        before = (await tab.join(topic))["response"]

        private_redis.restart()  # no persistence: every key and subscription is gone

        event, _ = await tab.next_event(topic, within=20)
        assert event == "phx_error"
        # what phoenix.js does on phx_error: rejoin, with `since` from the position it had
        rejoined = await tab.join(topic, {"since": {"seq": before["seq"], "epoch": before["epoch"]}})
        assert rejoined["status"] == "ok", rejoined
        assert rejoined["response"]["recovered"] is False
        assert rejoined["response"]["epoch"] != before["epoch"]

        await wait_for_worker_reconnect(system, session_id)
        events = await tab.events_until(topic, within=30)
        assert final_message(events)["status"] == "success"
        assert events[0][1]["seq"] == rejoined["response"]["seq"] + 1


async def wait_for_worker_reconnect(system: System, session_id: str) -> None:
    for _ in range(100):
        response = await system.post_message(session_id, "are you still there?")
        if response.status_code == 202:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"posting never worked again: {response.status_code} {response.text}")


async def test_readyz_answers_503_while_redis_is_down_and_200_when_it_is_back(
    private_redis: RedisServer, postgres_url: str
) -> None:
    async with System(Backend("redis-down", private_redis.url, postgres_url)) as system:
        assert (await system.http.get("/readyz")).status_code == 200
        private_redis.stop()
        down = await system.http.get("/readyz")
        assert down.status_code == 503
        assert down.json()["broker"] is False and down.json()["database"] is True
        private_redis.start()
        assert (await system.http.get("/readyz")).status_code == 200


async def test_posting_while_redis_is_down_is_a_clear_503_and_leaves_nothing_processing(
    private_redis: RedisServer, postgres_url: str
) -> None:
    async with System(Backend("redis-down", private_redis.url, postgres_url)) as system:
        session_id = await system.new_session()
        private_redis.stop()
        response = await system.post_message(session_id, "hello?")
        assert response.status_code == 503
        assert response.json()["code"] == "unavailable"
        private_redis.start()
        history = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
        assert [m["status"] for m in history.json()["messages"]] == ["success", "error"]


async def test_a_session_created_while_redis_is_down_is_created_and_joins_once_it_is_back(
    private_redis: RedisServer, postgres_url: str
) -> None:
    """Its join page cannot be cached meanwhile: the first join reads it from SQL instead."""
    async with System(Backend("redis-down", private_redis.url, postgres_url)) as system:
        await system.enable_assistant("acme")
        private_redis.stop()
        created = await system.http.post("/api/sessions", json={"title": "offline"}, headers=system.auth())
        private_redis.start()
        assert created.status_code == 201, created.text
        reply = await (await system.client()).join(f"ai_session:{created.json()['id']}")
    assert reply["status"] == "ok"
    assert reply["response"]["session"]["title"] == "offline" and reply["response"]["messages"] == []
