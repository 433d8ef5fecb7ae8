"""A message posted over HTTP streams to every tab, in order, and is persisted once."""

from __future__ import annotations

import asyncio

from .system import System

RUN_ON_CLUSTER = True


async def test_two_tabs_receive_identical_ordered_events_after_http_post(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tabs = [await system.client(), await system.client()]
    for tab in tabs:
        reply = await tab.join(topic)
        assert reply["status"] == "ok", reply
    response = await system.post_message(session_id, "How do I fetch data from an HTTP API?")
    assert response.status_code == 202, response.text
    streams = await asyncio.gather(*(tab.events_until(topic) for tab in tabs))
    assert streams[0] == streams[1]
    events = [event for event, _ in streams[0]]
    assert events[0] == "user_message"
    assert events[1] == "message_processing"
    assert "streaming_status" in events
    assert "streaming_changes" in events
    assert events.count("streaming_chunk") >= 30
    assert events[-1] == "new_message"
    seqs = [payload["seq"] for _, payload in streams[0]]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    chunks = "".join(p["content"] for e, p in streams[0] if e == "streaming_chunk")
    final = streams[0][-1][1]["message"]
    assert final["status"] == "success"
    assert final["content"] == chunks
    assert final["id"] == response.json()["response_message_id"]


async def test_final_message_is_persisted_once_with_the_full_content(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tab = await system.client()
    await tab.join(topic)
    await system.post_message(session_id, "Summarise my workflow")
    streamed = await tab.events_until(topic)
    chunks = "".join(p["content"] for e, p in streamed if e == "streaming_chunk")
    history = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    messages = history.json()["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == chunks
    assert messages[1]["status"] == "success"
    assert messages[1]["changes"] and all(not c["applied"] for c in messages[1]["changes"])
