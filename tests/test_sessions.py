"""Sessions: who may delete them, edits with a revision, and what every tab hears about both."""

from __future__ import annotations

from schema import keys

from .system import System


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
