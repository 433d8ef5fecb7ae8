"""Sessions: who may delete them, edits with a revision, and what every tab hears about both."""

from __future__ import annotations

import asyncio

import pytest

from schema import keys

from .system import Backend, System


@pytest.mark.parametrize(
    "who, role, status",
    [("alice", "member", 204), ("root", "admin", 204), ("bob", "member", 403)],
)
async def test_only_the_owner_or_a_tenant_admin_may_delete_a_session(
    system: System, who: str, role: str, status: int
) -> None:
    session_id = await system.new_session("alice")
    response = await system.http.delete(f"/api/sessions/{session_id}", headers=system.auth(who, role=role))
    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "forbidden"
        assert (await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())).status_code == 200
    other_tenant = await system.http.delete(f"/api/sessions/{session_id}", headers=system.auth("x", "globex", "admin"))
    assert other_tenant.status_code == 404


async def test_deleting_mid_generation_cancels_it_and_ends_every_tab_and_waiting_request(backend: Backend) -> None:
    async with System(backend, chunk_delay=0.2, chunks=200) as system:
        session_id = await system.new_session("alice")
        topic = keys.topic(session_id)
        tabs = [await system.client("alice"), await system.client("bob")]
        for tab in tabs:
            assert (await tab.join(topic))["response"]["session"]["id"] == session_id
        waiting = asyncio.create_task(system.ask(session_id, "a long answer, please"))
        for tab in tabs:
            await tab.events_until(topic, "streaming_chunk")
        deleted = await system.http.delete(f"/api/sessions/{session_id}", headers=system.auth("alice"))
        assert deleted.status_code == 204

        message = await asyncio.wait_for(waiting, 10)
        assert message["status"] == "cancelled"
        for tab in tabs:
            seen = [event for event, _ in await tab.events_until(topic, "phx_close", within=10)]
            assert seen[-3:] == ["new_message", "session_deleted", "phx_close"]
        gone = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
        assert gone.status_code == 404


async def test_an_sse_request_ends_when_its_session_is_deleted(backend: Backend) -> None:
    async with System(backend, chunk_delay=0.2, chunks=200) as system:
        session_id = await system.new_session("alice")
        async with system.http.stream(
            "POST", f"/api/sessions/{session_id}/messages", json={"content": "hello"},
            headers={**system.auth(), "Accept": "text/event-stream"},
        ) as response:  # fmt: skip
            lines = response.aiter_lines()
            async for line in lines:
                if line == "event: streaming_chunk":
                    break
            await system.http.delete(f"/api/sessions/{session_id}", headers=system.auth())
            rest = [line async for line in lines]  # the stream ends by itself
        assert "event: new_message" in rest


async def test_patch_needs_the_current_revision_and_every_tab_hears_the_update(system: System) -> None:
    session_id = await system.new_session("alice", title="draft", context={"workflow_yaml": "a: 1"})
    topic = keys.topic(session_id)
    tabs = [await system.client("alice"), await system.client("bob")]
    for tab in tabs:
        await tab.join(topic)
    url = f"/api/sessions/{session_id}"
    patched = await system.http.patch(
        url, json={"context": {"workflow_yaml": "a: 2"}, "revision": 1}, headers=system.auth("bob")
    )
    assert patched.status_code == 200, patched.text
    session = patched.json()["session"]
    assert session["revision"] == 2 and session["title"] == "draft" and session["context"] == {"workflow_yaml": "a: 2"}
    for tab in tabs:
        event, payload = await tab.next_event(topic)
        assert event == "session_updated" and payload["session"]["revision"] == 2

    stale = await system.http.patch(url, json={"title": "mine", "revision": 1}, headers=system.auth("alice"))
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    bad = ({"title": "x"}, {"title": 3, "revision": 2}, {"context": [], "revision": 2}, {"owner": "me", "revision": 2})
    for body in bad:
        assert (await system.http.patch(url, json=body, headers=system.auth())).status_code == 400
    elsewhere = await system.http.patch(url, json={"title": "x", "revision": 2}, headers=system.auth("eve", "globex"))
    assert elsewhere.status_code == 404
    shown = (await system.http.get(url, headers=system.auth())).json()["session"]
    assert (shown["revision"], shown["context"]) == (2, {"workflow_yaml": "a: 2"})


async def test_session_objects_carry_owner_revision_last_message_and_count(system: System) -> None:
    session_id = await system.new_session("alice", title="t")
    await system.ask(session_id, "hello there")
    (listed,) = (await system.http.get("/api/sessions", headers=system.auth())).json()["sessions"]
    assert listed["id"] == session_id and listed["user_id"] == "alice" and listed["revision"] == 1
    assert listed["message_count"] == 2
    assert listed["last_message"]["role"] == "assistant" and listed["last_message"]["preview"]
    assert (await system.http.get("/api/sessions", headers=system.auth("bob"))).json()["sessions"] == []
    whole = await system.http.get("/api/sessions?scope=tenant", headers=system.auth("bob"))
    assert [s["id"] for s in whole.json()["sessions"]] == [session_id]
