"""Apollo runs its own tools: its `tool_use` blocks are surfaced as steps, never executed here."""

from __future__ import annotations

from typing import Any

import httpx

from tests.faults.upstreams import ScriptedUpstream, complete, sse, stream, text_delta
from workers.providers.apollo import ApolloProvider
from workers.providers.tool_calls import ToolStep
from workers.providers.vocabulary import Complete, GenerationRequest, Status


def block(index: int, content_block: dict[str, Any]) -> bytes:
    return sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": content_block})


def json_piece(index: int, piece: str) -> bytes:
    delta = {"type": "input_json_delta", "partial_json": piece}
    return sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def stop(index: int) -> bytes:
    return sse("content_block_stop", {"type": "content_block_stop", "index": index})


SEARCH = {"type": "tool_use", "id": "toolu_1", "name": "search_docs", "input": {}}
LOOKUP = {"type": "tool_use", "id": "toolu_2", "name": "lookup_adaptor", "input": {}}
SCRIPTS = {
    "search then answer": stream(
        block(0, SEARCH),
        json_piece(0, '{"query": "dhi'),
        json_piece(0, 's2"}'),
        stop(0),
        block(1, {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "3 pages"}]}),
        stop(1),
        block(2, LOOKUP),
        stop(2),
        block(3, {"type": "text", "text": ""}),
        text_delta("Use the dhis2 adaptor."),
        stop(3),
        complete("Use the dhis2 adaptor."),
    ),
}


async def test_apollo_tool_use_blocks_become_started_and_finished_steps() -> None:
    async with ScriptedUpstream(SCRIPTS) as upstream, httpx.AsyncClient() as client:
        provider = ApolloProvider(upstream.url, client=client)
        request = GenerationRequest(content="search then answer", history=[], meta={"message_id": "m"})
        events = [event async for event in provider.stream(request)]
    steps = [(e.call.name, e.status, e.call.arguments) for e in events if isinstance(e, ToolStep)]
    assert steps == [
        ("search_docs", "started", {"query": "dhis2"}),
        ("search_docs", "finished", {"query": "dhis2"}),
        ("lookup_adaptor", "started", {}),
        ("lookup_adaptor", "finished", {}),
    ]
    previews = [e.result.preview if e.result else None for e in events if isinstance(e, ToolStep)]
    assert previews[1] == "3 pages"
    assert [e.text for e in events if isinstance(e, Status)] == ["Calling search_docs…", "Calling lookup_adaptor…"]
    assert isinstance(events[-1], Complete) and events[-1].response == "Use the dhis2 adaptor."
    assert len(upstream.calls) == 1  # nothing executed, nothing asked again
