"""A tenant with tools, end to end: gateway, worker, a model speaking OpenAI or Anthropic, the tenant's webhook.

Every step reaches every tab through the Phoenix channel, identically, and is persisted with the message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schema.credentials import generate_key
from schema.usage import generation_usage

from ..system import Backend, System
from .fakes import INPUT_TOKENS, OUTPUT_TOKENS, SECRET, FakeModel, Webhook

ORDER_STATUS = {
    "name": "get_order_status",
    "description": "The status of an order.",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]},
}
SLOW = {"name": "slow", "description": "Takes its time.", "parameters": {"type": "object"}}


def tool_system(backend: Backend, model: FakeModel, webhook: Webhook, wire: str = "openai") -> System:
    webhook_host = webhook.url.removeprefix("http://").split("/")[0]
    return System(
        backend, upstream_provider=wire, upstream_url=model.url, upstream_model="test-model",
        upstream_api_key="operator-key", credentials_key=generate_key(), tenant_allowed_hosts=webhook_host,
    )  # fmt: skip


async def give_tools(system: System, webhook: Webhook, *definitions: dict[str, Any]) -> None:
    tools = {"webhook_url": webhook.url, "secret": SECRET, "max_rounds": 3, "definitions": list(definitions)}
    response = await system.http.put(
        "/api/tenant/settings", json={"tools": tools}, headers=system.auth("admin", "acme", "admin")
    )
    assert response.status_code == 200, response.text
    shown = response.json()["tools"]
    assert shown["secret_set"] is True and SECRET not in response.text


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_a_tool_answer_streams_every_step_to_two_tabs_and_is_persisted(
    backend: Backend, model: FakeModel, webhook: Webhook, wire: str
) -> None:
    async with tool_system(backend, model, webhook, wire) as system:
        session_id = await system.new_session()
        await give_tools(system, webhook, ORDER_STATUS)
        topic = f"ai_session:{session_id}"
        tabs = [await system.client(), await system.client("bob")]
        for tab in tabs:
            assert (await tab.join(topic))["status"] == "ok"
        posted = await system.post_message(session_id, "Where is order A1?")
        assert posted.status_code == 202, posted.text
        streams = await asyncio.gather(*(tab.events_until(topic) for tab in tabs))

        assert streams[0] == streams[1]
        events = streams[0]
        tool_events = [(e, p) for e, p in events if e in ("streaming_tool", "streaming_status")]
        call_id = tool_events[0][1]["call_id"]
        assert [(e, p.get("status") or p.get("text")) for e, p in tool_events] == [
            ("streaming_tool", "started"), ("streaming_status", "Calling get_order_status…"),
            ("streaming_tool", "finished"),
        ]  # fmt: skip
        shipped = '{"order_id":"A1","status":"shipped"}'
        assert tool_events[2][1] == {
            "call_id": call_id, "name": "get_order_status", "arguments": {"order_id": "A1"}, "status": "finished",
            "result_preview": shipped, "seq": tool_events[2][1]["seq"],
            "message_id": posted.json()["response_message_id"],
        }  # fmt: skip
        final = events[-1][1]["message"]
        assert final["status"] == "success"
        assert f"From the tools: {shipped}" in final["content"]
        assert final["content"] == "".join(p["content"] for e, p in events if e == "streaming_chunk")
        stored = [{"call_id": call_id, "name": "get_order_status", "arguments": {"order_id": "A1"},
                   "status": "finished", "result_preview": shipped, "error": None}]  # fmt: skip
        assert final["tool_calls"] == stored
        counted = generation_usage(final["usage"], 0, "")  # both rounds, whichever names the wire uses
        assert counted == {"input_tokens": 2 * INPUT_TOKENS, "output_tokens": 2 * OUTPUT_TOKENS}

        [delivery] = webhook.deliveries
        assert delivery.body == {
            "call_id": call_id, "name": "get_order_status", "arguments": {"order_id": "A1"},
            "session_id": session_id, "message_id": final["id"], "tenant": "acme", "user_id": "alice",
        }  # fmt: skip
        history = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
        assert history.json()["messages"][-1]["tool_calls"] == stored

        await system.ask(session_id, "Thanks")  # the next turn tells the model about the earlier call
        told = model.requests[-1]["messages"]
        if wire == "openai":
            assert {"role": "tool", "tool_call_id": call_id, "content": shipped} in told
        else:
            blocks = [b for m in told if isinstance(m["content"], list) for b in m["content"]]
            assert any(b.get("tool_use_id") == call_id for b in blocks)


async def test_stop_during_a_tool_call_cancels_it_and_ends_the_call_failed(
    backend: Backend, model: FakeModel, webhook: Webhook
) -> None:
    async with tool_system(backend, model, webhook) as system:
        session_id = await system.new_session()
        await give_tools(system, webhook, SLOW)
        topic = f"ai_session:{session_id}"
        tab = await system.client()
        await tab.join(topic)
        await system.post_message(session_id, "Take your time")
        delivery = await webhook.delivery("slow")
        assert (await tab.push(topic, "stop"))["status"] == "ok"
        events = await tab.events_until(topic)
        await asyncio.wait_for(delivery.hung_up.wait(), 10)
        steps = [p["status"] for e, p in events if e == "streaming_tool"]
        assert steps == ["started", "failed"]
        final = events[-1][1]["message"]
        assert final["status"] == "cancelled"
        assert [c["status"] for c in final["tool_calls"]] == ["failed"]
        # the round that asked for the call was reported: it counts, not an estimate
        reported = {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS}
        assert generation_usage(final["usage"], 0, "") == reported
        assert len(webhook.deliveries) == 1


async def test_apollos_own_tool_use_reaches_the_tabs_as_steps_without_any_webhook(system: System) -> None:
    """The demo upstream (apollo format) with `demo.tools`: a `tool_use` block Apollo runs itself."""
    session_id = await system.new_session(context={"demo": {"tools": True, "chunks": 3}})
    topic = f"ai_session:{session_id}"
    tab = await system.client()
    await tab.join(topic)
    await system.post_message(session_id, "Sync patients from DHIS2")
    events = await tab.events_until(topic)
    steps = [p for e, p in events if e == "streaming_tool"]
    assert [(p["name"], p["status"], p["arguments"]) for p in steps] == [
        ("search_docs", "started", {"query": "Sync patients from DHIS2"}),
        ("search_docs", "finished", {"query": "Sync patients from DHIS2"}),
    ]
    assert steps[1]["result_preview"] == "3 pages: HTTP adaptor, PostgreSQL adaptor, cron triggers"
    assert ("streaming_status", "Calling search_docs…") in [(e, p.get("text")) for e, p in events]
    final = events[-1][1]["message"]
    assert final["status"] == "success"
    assert [(c["name"], c["status"]) for c in final["tool_calls"]] == [("search_docs", "finished")]
