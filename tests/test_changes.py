"""The final message's own changes: equal to an early change, they share its claim; different, they do not."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from relay.server import EmbeddedServer
from schema.events import change_id

from .system import Backend, System

EARLY = {"yaml": "name: draft workflow\n"}
FINAL_YAML = "name: draft workflow\n"  # the same as the early change
FINAL_CODE = "fn(state => state);"  # differs from the early code below
EARLY_CODE = {"code": "fn(state => null);"}


def event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def scripted_upstream(claimed: asyncio.Event) -> Starlette:
    async def answer(request: Request) -> StreamingResponse:
        return StreamingResponse(events(), media_type="text/event-stream")

    async def events():
        yield event("changes", EARLY)
        yield event("changes", EARLY_CODE)
        await claimed.wait()  # the answer goes on once the tab has claimed the early changes
        yield event("content_block_delta", {"delta": {"type": "text_delta", "text": "Here you go."}})
        yield event("complete", {"response": "Here you go.", "response_yaml": FINAL_YAML,
                                 "suggested_code": FINAL_CODE, "usage": {}})  # fmt: skip

    return Starlette(routes=[Route("/services/{service}/stream", answer, methods=["POST"])])


async def test_final_changes_equal_to_a_claimed_change_are_applied_and_different_ones_are_not(
    backend: Backend,
) -> None:
    claimed = asyncio.Event()
    async with EmbeddedServer(scripted_upstream(claimed)) as up:
        async with System(backend, upstream_url=up.url) as system:
            session_id = await system.new_session()
            topic = f"ai_session:{session_id}"
            tab = await system.client()
            await tab.join(topic)
            await system.post_message(session_id, "draft me a workflow")
            offered = []
            while len(offered) < 2:
                name, payload = await tab.next_event(topic)
                if name == "streaming_changes":
                    offered.append(payload)
            for payload in offered:  # the tab applies both early changes
                assert (await tab.push(topic, "claim_changes", {"change_id": payload["change_id"]}))["response"][
                    "granted"
                ]
            claimed.set()
            final = (await tab.events_until(topic))[-1][1]["message"]
            reloaded = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    assert reloaded.json()["messages"][-1]["changes"] == final["changes"]
    by_id = {c["change_id"]: c for c in final["changes"]}
    same = change_id(final["id"], {"yaml": FINAL_YAML})
    different = change_id(final["id"], {"code": FINAL_CODE})
    assert same == change_id(final["id"], EARLY)
    assert by_id[same]["applied"] is True
    assert by_id[different]["applied"] is False
    assert different != change_id(final["id"], EARLY_CODE)
