"""Hosted documents (docs/protocol.md, "Collaborative documents"): joining, syncing, HTTP, on each backend."""

from __future__ import annotations

import asyncio

import pytest
from pycrdt import Map, create_awareness_message, create_update_message, write_message, write_var_uint

from .system import System
from .yjs_tab import YjsTab

YAML = "jobs:\n  fetch:\n    adaptor: http\n  load:\n    adaptor: postgresql\n"


async def relay_session(system: System, **context: str) -> str:
    return await system.new_session(documents="relay", context=context)


async def tab(system: System, session_id: str, name: str = "workflow_yaml", user: str = "alice", **kw: str) -> YjsTab:
    opened = await YjsTab.open(system.url, system.token(user, kw.get("tenant", "acme")), session_id, name)
    system.stack.push_async_callback(opened.close)
    return opened


async def test_a_tab_joining_gets_the_document_the_session_was_created_with(system: System) -> None:
    session_id = await relay_session(system, workflow_yaml=YAML, job_code="fn(state => state);\n")
    await (await tab(system, session_id)).wait_text(YAML)
    await (await tab(system, session_id, "job_code")).wait_text("fn(state => state);\n")


async def test_two_tabs_typing_at_once_converge_and_a_later_tab_gets_the_whole_document(system: System) -> None:
    session_id = await relay_session(system, workflow_yaml=YAML)
    alice, bob = await tab(system, session_id), await tab(system, session_id, user="bob")
    await alice.wait_text(YAML)
    await bob.wait_text(YAML)
    await asyncio.gather(
        alice.edit(lambda text: text.insert(0, "# alice\n")),
        bob.edit(lambda text: text.insert(len(YAML.encode()), "# bob\n")),
    )
    expected = "# alice\n" + YAML + "# bob\n"
    await alice.wait_text(expected)
    await bob.wait_text(expected)
    later = await tab(system, session_id, user="carol")
    await later.wait_text(expected)


async def test_get_shows_the_documents_text_and_patch_edits_it_into_every_tab(
    system: System,
) -> None:
    session_id = await relay_session(system, workflow_yaml=YAML)
    editor = await tab(system, session_id)
    await editor.wait_text(YAML)
    await editor.edit(lambda text: text.insert(0, "# top\n"))
    await editor.wait_text("# top\n" + YAML)

    async def shown() -> str:
        response = await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())
        response.raise_for_status()
        return response.json()["session"]["context"]["workflow_yaml"]

    for _ in range(200):  # polled: the gateway's append to the log has no event to wait on
        if await shown() == "# top\n" + YAML:
            break
        await asyncio.sleep(0.05)
    assert await shown() == "# top\n" + YAML
    # The PATCH carries the whole new text; the tab receives it as an edit of one word.
    response = await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())
    revision = response.json()["session"]["revision"]
    patched = YAML.replace("postgresql", "mysql")
    response = await system.http.patch(
        f"/api/sessions/{session_id}",
        json={"revision": revision, "context": {"workflow_yaml": "# top\n" + patched}},
        headers=system.auth(),
    )
    assert response.status_code == 200, response.text
    assert response.json()["session"]["context"]["workflow_yaml"] == "# top\n" + patched
    await editor.wait_text("# top\n" + patched)


async def test_documents_of_a_client_session_and_of_another_tenant_cannot_be_joined(system: System) -> None:
    client_session = await system.new_session(context={"workflow_yaml": YAML})
    with pytest.raises(PermissionError, match="bad_request"):
        await tab(system, client_session)
    session_id = await relay_session(system, workflow_yaml=YAML)
    await system.enable_assistant("globex")
    with pytest.raises(PermissionError, match="not_found"):
        await tab(system, session_id, user="mallory", tenant="globex")
    response = await system.http.get(f"/api/sessions/{client_session}", headers=system.auth())
    assert response.json()["session"]["context"] == {"workflow_yaml": YAML}
    assert response.json()["session"]["documents"] == "client"


async def test_awareness_reaches_the_other_tabs_and_a_leaving_tab_is_removed(system: System) -> None:
    session_id = await relay_session(system)
    alice, bob = await tab(system, session_id), await tab(system, session_id, user="bob")
    await alice.wait(lambda t: t.queries >= 1)  # bob's arrival asked the others for their cursors
    await alice.say_awareness(_awareness(4242, 1))
    await bob.wait(lambda t: t.awareness.get(4242) == 1)
    await alice.close()
    await bob.wait(lambda t: t.awareness.get(4242) == 2)  # the removal, one clock later


def _awareness(client: int, clock: int) -> bytes:
    state = b'{"user":{"name":"Alice"},"cursor":null}'
    entry = write_var_uint(client) + write_var_uint(clock) + write_message(state)
    return create_awareness_message(write_var_uint(1) + entry)


async def test_malformed_yjs_pushes_are_refused_and_the_document_is_unharmed(system: System) -> None:
    session_id = await relay_session(system, workflow_yaml=YAML)
    editor = await tab(system, session_id)
    await editor.wait_text(YAML)
    for message in (b"", b"\x00\x07", b"\x00\x02\x05garbage", b"\x09", b"\x01\x05\x01"):
        reply = await editor.refusal(await editor.push("yjs", message))
        assert reply["status"] == "error" and reply["response"]["reason"] == "bad_request", (message, reply)
    later = await tab(system, session_id)
    await later.wait_text(YAML)


async def test_a_deletion_reaches_the_other_tabs(system: System) -> None:
    session_id = await relay_session(system, workflow_yaml=YAML)
    alice, bob = await tab(system, session_id), await tab(system, session_id, user="bob")
    await alice.wait_text(YAML)
    await bob.wait_text(YAML)
    await alice.edit(lambda text: text.__delitem__(slice(0, len("jobs:\n"))))
    await bob.wait_text(YAML[len("jobs:\n") :])


async def test_a_document_at_its_size_limit_refuses_growth_and_still_takes_deletions(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relay.document_room.DOCUMENT_MAX_BYTES", 400)
    session_id = await relay_session(system, workflow_yaml=YAML * 4)
    alice = await tab(system, session_id)
    await alice.wait_text(YAML * 4)
    before = alice.doc.get_state()
    with alice.doc.transaction():
        alice.text.insert(0, "x" * 300)
    reply = await alice.refusal(await alice.push("yjs", create_update_message(alice.doc.get_update(before))))
    assert reply["status"] == "error" and reply["response"]["reason"] == "too_large", reply
    before = alice.doc.get_state()
    alice.doc["elsewhere"] = Map({"filler": "y" * 300})  # growth outside the text is refused as well
    reply = await alice.refusal(await alice.push("yjs", create_update_message(alice.doc.get_update(before))))
    assert reply["status"] == "error" and reply["response"]["reason"] == "too_large", reply
    fresh = await tab(system, session_id)
    await fresh.wait_text(YAML * 4)  # the refused edits went nowhere
    await fresh.edit(lambda text: text.__delitem__(slice(0, len(YAML))))
    await alice.wait(lambda t: str(t.text).endswith(YAML * 3))


async def test_deleting_the_session_closes_its_documents_tabs(system: System) -> None:
    session_id = await relay_session(system, workflow_yaml=YAML)
    editors = [await tab(system, session_id), await tab(system, session_id, "job_code", user="bob")]
    for editor in editors:
        await editor.wait(lambda t: t.received > 0)
    response = await system.http.delete(f"/api/sessions/{session_id}", headers=system.auth())
    assert response.status_code == 204
    for editor in editors:
        await editor.wait(lambda t: t.closed)
    with pytest.raises(PermissionError, match="not_found"):
        await tab(system, session_id)


async def test_creating_a_relay_session_answers_with_its_documents_texts_and_stores_them_once(system: System) -> None:
    await system.enable_assistant()
    body = {"documents": "relay", "context": {"workflow_yaml": YAML, "service": "workflow_chat"}}
    response = await system.http.post("/api/sessions", json=body, headers=system.auth())
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["documents"] == "relay"
    assert created["context"] == {"workflow_yaml": YAML, "job_code": "", "service": "workflow_chat"}
    listed = (await system.http.get("/api/sessions", headers=system.auth())).json()["sessions"]
    assert listed[0]["context"] == {"service": "workflow_chat"}  # the text lives in the document, not the row
    refused = await system.http.post("/api/sessions", json={"documents": "shared"}, headers=system.auth())
    assert refused.status_code == 400 and refused.json()["code"] == "bad_request"
    wrong = await system.http.post(
        "/api/sessions", json={"documents": "relay", "context": {"job_code": 7}}, headers=system.auth()
    )
    assert wrong.status_code == 400 and "context.job_code" in wrong.json()["error"]


async def test_a_tab_speaking_for_many_awareness_clients_is_refused(system: System) -> None:
    session_id = await relay_session(system)
    alice = await tab(system, session_id)
    for client in range(8):
        assert await alice.push("yjs", _awareness(client, 1))
    reply = await alice.refusal(await alice.push("yjs", _awareness(100, 1)))
    assert reply["status"] == "error" and reply["response"]["reason"] == "bad_request", reply
