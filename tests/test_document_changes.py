"""The assistant's change applied once by the relay to a hosted document (docs/protocol.md,
"Collaborative documents"), with and without tabs open, on each backend."""

from __future__ import annotations

from relay.demo_upstream import REVISED_YAML, WORKFLOW_YAML

from .system import System
from .yjs_tab import YjsTab

# The session's workflow before the answer: the demo's, with its trigger named differently and a comment on top.
BEFORE = "# my workflow\n" + WORKFLOW_YAML.replace("type: cron", "type: webhook")


async def test_the_change_lands_once_in_the_document_before_the_answer_ends_and_tabs_are_told(
    system: System,
) -> None:
    session_id = await system.new_session(documents="relay", context={"workflow_yaml": BEFORE})
    editor = await YjsTab.open(system.url, system.token(), session_id, "workflow_yaml")
    system.stack.push_async_callback(editor.close)
    await editor.wait_text(BEFORE)
    watcher = await system.client()
    topic = f"ai_session:{session_id}"
    await watcher.join(topic)
    texts_at_chunks: list[str] = []

    response = await system.post_message(session_id, "Build me a workflow")
    assert response.status_code == 202
    seen = []
    while not seen or seen[-1][0] != "new_message":
        event, payload = await watcher.next_event(topic)
        seen.append((event, payload))
        if event == "streaming_chunk":
            texts_at_chunks.append(str(editor.text))
        if event == "streaming_changes":
            claim = await watcher.push(topic, "claim_changes", {"change_id": payload["change_id"]})
            assert claim == {"status": "ok", "response": {"granted": False}}  # the relay applied it
    names = [event for event, _ in seen]
    applied = [payload for event, payload in seen if event == "changes_applied"]
    change_id = next(payload["change_id"] for event, payload in seen if event == "streaming_changes")
    assert [(a["change_id"], a["user_id"]) for a in applied] == [(change_id, None)]
    # applied the moment it arrived: before the answer's text streamed on
    assert names.index("streaming_changes") < names.index("changes_applied") < names.index("streaming_chunk")
    await editor.wait_text(WORKFLOW_YAML)
    assert texts_at_chunks[-1] == WORKFLOW_YAML, "the change was in the document before the text ended"
    final = seen[-1][1]["message"]
    assert [(c["change_id"], c["applied"]) for c in final["changes"]] == [(change_id, True)]


async def test_the_change_is_applied_with_no_tab_open_and_a_revised_final_change_too(system: System) -> None:
    session_id = await system.new_session(
        documents="relay", context={"workflow_yaml": BEFORE, "demo": {"revise": True}}
    )
    message = await system.ask(session_id, "Build me a workflow")
    assert [c["applied"] for c in message["changes"]] == [True]  # the final, revised change: applied too
    response = await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())
    assert response.json()["session"]["context"]["workflow_yaml"] == REVISED_YAML
    later = await YjsTab.open(system.url, system.token(), session_id, "workflow_yaml")
    system.stack.push_async_callback(later.close)
    await later.wait_text(REVISED_YAML)


async def test_a_client_session_keeps_its_claims_and_its_context(system: System) -> None:
    session_id = await system.new_session(context={"workflow_yaml": BEFORE})
    watcher = await system.client()
    topic = f"ai_session:{session_id}"
    await watcher.join(topic)
    await system.post_message(session_id, "Build me a workflow")
    while True:
        event, payload = await watcher.next_event(topic)
        if event == "streaming_changes":
            claim = await watcher.push(topic, "claim_changes", {"change_id": payload["change_id"]})
            assert claim == {"status": "ok", "response": {"granted": True}}
            break
    response = await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())
    assert response.json()["session"]["context"]["workflow_yaml"] == BEFORE  # the tab granted the claim writes it
