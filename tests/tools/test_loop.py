"""The tool loop over real local servers: an OpenAI- and an Anthropic-speaking model, and the tool webhook."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from workers.providers.anthropic import AnthropicProvider
from workers.providers.openai import OpenAIProvider
from workers.providers.tool_calls import ToolStep
from workers.providers.tool_history import ToolRecord
from workers.providers.vocabulary import Chunk, Complete, GenerationRequest, Provider, Status
from workers.tools.loop import ToolLoop
from workers.tools.webhook import ToolWebhook

from .fakes import FOREVER, INPUT_TOKENS, OUTPUT_TOKENS, SECRET, STUBBORN, FakeModel, Webhook

NAMES = ["get_order_status", "get_weather", "rendezvous", "broken", "garbled", "refuses", "slow"]
DEFINITIONS = [
    {"name": name, "description": f"The {name} tool.", "parameters": {"type": "object", "properties": {}}}
    for name in NAMES
]
WIRES = ["openai", "anthropic"]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def provider(wire: str, model: FakeModel, client: httpx.AsyncClient) -> Provider:
    kind = OpenAIProvider if wire == "openai" else AnthropicProvider
    return kind(model.url, "key", "test-model", client=client)


def loop(wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient, max_rounds: int = 3) -> ToolLoop:
    return ToolLoop(provider(wire, model, client), ToolWebhook(webhook.url, SECRET, client), DEFINITIONS, max_rounds)


def request(content: str, history: list[dict[str, Any]] | None = None) -> GenerationRequest:
    meta = {"session_id": "s-1", "message_id": "m-1"}
    return GenerationRequest(content=content, history=history or [], meta=meta, tenant="acme", user_id="alice")


async def run(tool_loop: ToolLoop, content: str, history: list[dict[str, Any]] | None = None) -> list[Any]:
    return [event async for event in tool_loop.stream(request(content, history))]


def steps(events: list[Any]) -> list[tuple[str, str, str]]:
    return [(e.call.name, e.status, e.call.call_id) for e in events if isinstance(e, ToolStep)]


def tool_messages(wire: str, body: dict[str, Any]) -> list[Any]:
    """What a request told the model about tool results: (call id, content, is_error?) in its own format."""
    if wire == "openai":
        return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"]
    return [
        (b["tool_use_id"], b["content"], b["is_error"])
        for m in body["messages"] if isinstance(m["content"], list)
        for b in m["content"] if b["type"] == "tool_result"
    ]  # fmt: skip


@pytest.mark.parametrize("wire", WIRES)
async def test_streamed_calls_are_assembled_run_at_once_and_answered(
    wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient
) -> None:
    """Two calls, their arguments interleaved in pieces; each webhook answers only while the other waits too."""
    events = await run(loop(wire, model, webhook, client), "Meet twice")
    assert sorted(d.body["arguments"]["seat"] for d in webhook.deliveries) == [1, 2]
    assert {d.body["call_id"] for d in webhook.deliveries} == {s[2] for s in steps(events)}
    assert [s[:2] for s in steps(events)][:2] == [("rendezvous", "started")] * 2
    assert sorted(s[1] for s in steps(events)[2:]) == ["finished", "finished"]
    assert [e.text for e in events if isinstance(e, Status)] == ["Calling rendezvous…"] * 2
    finished = [e for e in events if isinstance(e, ToolStep) and e.status == "finished"]
    assert {e.result.preview for e in finished if e.result} == {"seat 1 taken", "seat 2 taken"}
    complete = events[-1]
    assert isinstance(complete, Complete)
    assert "From the tools: seat 1 taken | seat 2 taken" in complete.response
    assert complete.response == "".join(e.content for e in events if isinstance(e, Chunk))
    assert complete.response.startswith("Let me look that up.") and "\n\nFrom the tools" in complete.response
    first, second = model.requests
    assert [
        d["name"] for d in (first["tools"] if wire == "anthropic" else [t["function"] for t in first["tools"]])
    ] == NAMES
    assert tool_messages(wire, first) == []
    expected = [(call_id, f"seat {n} taken") for n, call_id in ((1, steps(events)[0][2]), (2, steps(events)[1][2]))]
    assert tool_messages(wire, second) == [(*e, False) if wire == "anthropic" else e for e in expected]


@pytest.mark.parametrize("wire", WIRES)
async def test_usage_adds_up_over_every_round(
    wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient
) -> None:
    events = await run(loop(wire, model, webhook, client), "Two steps")
    assert webhook.names() == ["get_order_status", "get_weather"]
    assert len(model.requests) == 3
    usage = events[-1].usage
    if wire == "openai":
        assert (usage["prompt_tokens"], usage["completion_tokens"]) == (3 * INPUT_TOKENS, 3 * OUTPUT_TOKENS)
    else:
        assert (usage["input_tokens"], usage["output_tokens"]) == (3 * INPUT_TOKENS, 3 * OUTPUT_TOKENS)
    assert "sunny in Lyon" in events[-1].response and '"status":"shipped"' in events[-1].response


@pytest.mark.parametrize("wire", WIRES)
async def test_after_max_rounds_the_model_must_answer_without_tools(
    wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient
) -> None:
    events = await run(loop(wire, model, webhook, client, max_rounds=2), FOREVER)
    assert webhook.names() == ["get_order_status", "get_order_status"]
    choices = [r["tool_choice"] for r in model.requests]
    assert choices == (
        ["auto", "auto", "none"] if wire == "openai" else [{"type": t} for t in ("auto", "auto", "none")]
    )
    assert isinstance(events[-1], Complete) and "From the tools:" in events[-1].response


@pytest.mark.parametrize("wire", WIRES)
async def test_calls_past_max_rounds_fail_and_the_answer_ends(
    wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient
) -> None:
    events = await run(loop(wire, model, webhook, client, max_rounds=1), STUBBORN)
    assert webhook.names() == ["get_order_status"]
    assert [s[1] for s in steps(events)] == ["started", "finished", "started", "failed"]
    refused = next(e for e in events if isinstance(e, ToolStep) and e.status == "failed")
    assert refused.result and refused.result.error == "The assistant may call tools in at most 1 round per answer."
    assert isinstance(events[-1], Complete) and len(model.requests) == 2


@pytest.mark.parametrize("wire", WIRES)
async def test_failed_calls_are_told_to_the_model_and_the_answer_goes_on(
    wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient
) -> None:
    events = await run(loop(wire, model, webhook, client), "Everything fails")
    assert sorted(webhook.names()) == ["broken", "garbled", "refuses"]  # never the unknown tool
    errors = {
        e.call.name: e.result.error for e in events if isinstance(e, ToolStep) and e.status == "failed" and e.result
    }
    assert errors == {
        "broken": "The tool webhook answered HTTP 500.",
        "garbled": "The tool webhook answered with invalid JSON.",
        "launch_rockets": "There is no tool named 'launch_rockets'.",
        "refuses": "Order not found",
    }
    told = tool_messages(wire, model.requests[1])
    assert [t[1] for t in told] == [
        f"The tool call failed: {errors[n]}" for n in ("broken", "garbled", "launch_rockets", "refuses")
    ]
    if wire == "anthropic":
        assert all(t[2] is True for t in told)
    assert isinstance(events[-1], Complete) and "The tool call failed: Order not found" in events[-1].response


@pytest.mark.parametrize("wire", WIRES)
async def test_a_later_turn_sends_earlier_tool_calls_in_the_providers_format(
    wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient
) -> None:
    record = ToolRecord()
    events = await run(loop(wire, model, webhook, client), "Where is order A1?")
    for event in events:
        if isinstance(event, ToolStep):
            record.note(event)
    history = [
        {"role": "user", "content": "Where is order A1?"},
        {"role": "assistant", "content": events[-1].response, "tool_calls": record.final()},
    ]
    await run(loop(wire, model, webhook, client), "Thanks", history)
    sent = model.requests[-1]["messages"]
    call_id = steps(events)[0][2]
    if wire == "openai":
        assert sent[1] == {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": call_id, "type": "function",
                            "function": {"name": "get_order_status", "arguments": '{"order_id":"A1"}'}}],
        }  # fmt: skip
        assert sent[2] == {"role": "tool", "tool_call_id": call_id, "content": '{"order_id":"A1","status":"shipped"}'}
    else:
        assert sent[1] == {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": call_id, "name": "get_order_status", "input": {"order_id": "A1"}}],
        }
        result = {"type": "tool_result", "tool_use_id": call_id, "content": '{"order_id":"A1","status":"shipped"}'}
        assert sent[2] == {"role": "user", "content": [{**result, "is_error": False}]}
    assert sent[3] == {"role": "assistant", "content": events[-1].response}
    assert sent[4] == {"role": "user", "content": "Thanks"}


@pytest.mark.parametrize("wire", WIRES)
async def test_stopping_during_a_call_hangs_up_on_the_webhook(
    wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient
) -> None:
    seen: list[Any] = []

    async def consume() -> None:
        async with contextlib.aclosing(loop(wire, model, webhook, client).stream(request("Take your time"))) as events:
            async for event in events:
                seen.append(event)

    task = asyncio.create_task(consume())
    delivery = await webhook.delivery("slow")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(delivery.hung_up.wait(), 10)
    assert steps(seen) == [("slow", "started", steps(seen)[0][2])]


@pytest.mark.parametrize("wire", WIRES)
async def test_a_later_turn_keeps_earlier_rounds_in_order(
    wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient
) -> None:
    record = ToolRecord()
    events = await run(loop(wire, model, webhook, client), "Two steps")
    for event in events:
        if isinstance(event, ToolStep):
            record.note(event)
    assert [(c["name"], c["round"]) for c in record.final()] == [("get_order_status", 1), ("get_weather", 2)]
    history = [
        {"role": "user", "content": "Two steps"},
        {"role": "assistant", "content": events[-1].response, "tool_calls": record.final()},
    ]
    await run(loop(wire, model, webhook, client), "Thanks", history)
    sent = model.requests[-1]["messages"]
    if wire == "openai":
        called = [m["tool_calls"][0]["function"]["name"] for m in sent if m.get("tool_calls")]
    else:
        called = [
            b["name"] for m in sent if isinstance(m["content"], list) for b in m["content"] if b["type"] == "tool_use"
        ]
    assert called == ["get_order_status", "get_weather"]
    assert [m["role"] for m in sent][-2:] == ["assistant", "user"]


@pytest.mark.parametrize("wire", WIRES)
async def test_arguments_that_are_not_json_fail_without_reaching_the_webhook(
    wire: str, model: FakeModel, webhook: Webhook, client: httpx.AsyncClient
) -> None:
    events = await run(loop(wire, model, webhook, client), "Garbled arguments")
    [started, ended] = [e for e in events if isinstance(e, ToolStep)]
    assert started.call.arguments == '{"order_id": "A'
    assert ended.status == "failed" and ended.result
    assert ended.result.error == "The assistant sent arguments that are not a JSON object."
    assert webhook.deliveries == []
    assert isinstance(events[-1], Complete)
