"""Per-user limits as a gateway applies them: writes over HTTP and the channel, document pushes, sockets."""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets

from relay.auth import Claims
from relay.broker.limits_memory import MemoryLimits
from relay.errors import ChatError
from relay.limits import DOCUMENT, WRITE, UserLimits
from relay.settings import Settings

from .system import Backend, System


async def test_one_users_flood_of_creates_is_refused_while_another_user_of_the_tenant_is_served(
    system: System,
) -> None:
    await system.enable_assistant()
    flood = [
        asyncio.create_task(system.http.post("/api/sessions", json={}, headers=system.auth("alice")))
        for _ in range(600)
    ]
    served = await system.http.post("/api/sessions", json={}, headers=system.auth("bob"))
    assert served.status_code == 201, "another user of the tenant is not slowed"
    answers = await asyncio.gather(*flood)
    refused = [answer for answer in answers if answer.status_code == 429]
    assert len(refused) >= 100
    assert {answer.status_code for answer in answers} == {201, 429}
    assert all(answer.json()["code"] == "rate_limited" for answer in refused)
    assert all(int(answer.headers["retry-after"]) >= 1 for answer in refused)
    assert refused[0].json()["error"].startswith("Too many requests")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_every_write_method_takes_a_token_and_reads_take_none(backend: Backend, method: str) -> None:
    async with System(backend, user_burst=2, user_requests_per_second=0.01) as system:
        await system.enable_assistant()  # the admin's tokens, not alice's
        session_id = (await system.http.post("/api/sessions", json={}, headers=system.auth())).json()["id"]
        for _ in range(5):
            assert (await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())).status_code == 200
        paths = {"POST": f"/api/sessions/{session_id}/stop", "PUT": "/api/tenant/settings"}
        path = paths.get(method, f"/api/sessions/{session_id}")
        spent = await system.http.request(method, path, json={"title": "t", "revision": 1}, headers=system.auth())
        assert spent.status_code != 429
        refused = await system.http.request(method, path, json={}, headers=system.auth())
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1


async def test_a_rate_limited_push_is_refused_and_the_socket_and_its_other_topics_go_on(backend: Backend) -> None:
    async with System(backend, user_burst=2, user_requests_per_second=0.01) as system:
        first, second = await system.new_session(user="bob"), await system.new_session(user="bob")
        tab = await system.client()
        assert (await tab.join(f"ai_session:{first}"))["status"] == "ok"
        for _ in range(2):
            assert (await tab.push(f"ai_session:{first}", "stop"))["status"] == "ok"
        refused = await tab.push(f"ai_session:{first}", "claim_changes", {"change_id": "c1"})
        assert refused["status"] == "error"
        assert refused["response"]["reason"] == "rate_limited" and refused["response"]["retry_after"] >= 1
        assert (await tab.heartbeat())["status"] == "ok"
        assert (await tab.join(f"ai_session:{second}"))["status"] == "ok", "joins are reads: never limited"
        await (await system.publisher()).event_log.publish(second, "streaming_status", "m1", {"text": "still live"})
        assert (await tab.next_event(f"ai_session:{second}"))[1]["text"] == "still live"


async def test_document_pushes_have_a_bucket_of_their_own(backend: Backend) -> None:
    """`doc:*` topics are chosen by prefix: a document's channel is covered whoever serves it."""
    async with System(
        backend, user_burst=1, user_requests_per_second=0.01, document_burst=3, document_pushes_per_second=0.01
    ) as system:
        tab = await system.client()
        await tab.push("ai_session:x", "stop")  # the write bucket is empty now
        for _ in range(3):
            answer = await tab.push("doc:notes", "yjs", {})
            assert answer["response"]["reason"] != "rate_limited", "typing is not refused for the write bucket"
        assert (await tab.push("doc:notes", "yjs", {}))["response"]["reason"] == "rate_limited"


async def test_one_socket_more_than_the_limit_is_refused_at_the_upgrade_with_429(backend: Backend) -> None:
    async with System(backend, max_sockets_per_user=2) as system:
        second_gateway = await system.start_gateway()
        tabs = [await system.client(), await system.client(url=second_gateway.url)]
        for url in (system.url, second_gateway.url):
            with pytest.raises(websockets.InvalidStatus) as refused:
                await system.client(url=url)
            assert refused.value.response.status_code == 429
            assert b"too many open sockets" in refused.value.response.body
        await system.client(user="bob")
        await tabs[0].close()
        for _ in range(500):  # the closed socket's slot is freed by a task of its gateway's: poll
            try:
                await system.client(url=second_gateway.url)
                return
            except websockets.InvalidStatus:
                await asyncio.sleep(0.01)
        raise AssertionError("a closed socket's slot was not freed")


async def test_one_persons_tabs_cost_one_presence_entry_each_and_no_more_than_the_socket_limit(
    backend: Backend,
) -> None:
    async with System(backend, max_sockets_per_user=3) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        tabs = [await system.client() for _ in range(3)]
        for tab in tabs:
            for _ in range(2):  # a rejoin replaces the tab's channel, and its presence entry
                assert (await tab.join(topic))["status"] == "ok"
        with pytest.raises(websockets.InvalidStatus):
            await system.client()
        broker = await system.publisher()
        for _ in range(500):  # the replaced entries' leaves are removed by a task of the gateway's: poll
            present = await broker.presence.list(session_id)
            if len(present.get("alice", {}).get("metas", [])) == 3:
                break
            await asyncio.sleep(0.01)
        assert list(present) == ["alice"] and len(present["alice"]["metas"]) == 3


ALICE = Claims("alice", "acme", "member")


async def test_the_slots_of_a_gateway_that_vanished_expire_and_a_live_gateway_keeps_its_own() -> None:
    settings = Settings(max_sockets_per_user=1, presence_ttl_seconds=0.3, presence_interval_seconds=0.05)
    store = MemoryLimits()
    crashed, live = UserLimits(store, settings), UserLimits(store, settings)
    assert await crashed.open_socket(ALICE, time.monotonic) is not None  # its gateway never keeps nor frees it
    assert await live.open_socket(ALICE, time.monotonic) is None
    opened = None
    for _ in range(200):
        opened = await live.open_socket(ALICE, time.monotonic)
        if opened is not None:
            break
        await asyncio.sleep(0.01)
    assert opened is not None, "the vanished gateway's slot expired"
    keeping = asyncio.create_task(live.run())
    try:
        deadline = time.monotonic() + 3 * settings.presence_ttl_seconds
        while time.monotonic() < deadline:  # long past the slot's first expiry, the live socket still holds it
            assert await crashed.open_socket(ALICE, time.monotonic) is None
            await asyncio.sleep(0.02)
    finally:
        keeping.cancel()


async def test_limits_take_tokens_per_user_and_bucket() -> None:
    limits = UserLimits(MemoryLimits(), Settings(user_burst=1, user_requests_per_second=0.5, document_burst=1))
    await limits.take(ALICE, WRITE)
    with pytest.raises(ChatError) as refused:
        await limits.take(ALICE, WRITE)
    assert (refused.value.status, refused.value.code, refused.value.extra) == (429, "rate_limited", {"retry_after": 2})
    await limits.take(ALICE, DOCUMENT)
    await limits.take(Claims("bob", "acme", "member"), WRITE)
