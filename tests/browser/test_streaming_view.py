"""An answer in flight as a reloaded tab shows it (tool steps from the join's snapshot) and where its cursor sits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from relay.server import EmbeddedServer

from .tabs import Tabs
from .test_web_app import JOINED, Systems, open_chat

pytestmark = pytest.mark.asyncio(loop_scope="module")


def sse(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def held_upstream(text: list[str], gate: asyncio.Event) -> Starlette:
    """Runs a tool, streams `text`, then holds the answer open until `gate` is set."""

    async def events() -> AsyncIterator[bytes]:
        tool = {"type": "tool_use", "id": "toolu_1", "name": "search_docs", "input": {}}
        yield sse("content_block_start", {"index": 0, "content_block": tool})
        yield sse("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta", "partial_json": "{}"}})
        yield sse("content_block_stop", {"index": 0})
        result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "3 pages about cron"}
        yield sse("content_block_start", {"index": 1, "content_block": result})
        yield sse("content_block_stop", {"index": 1})
        for piece in text:
            yield sse("content_block_delta", {"delta": {"type": "text_delta", "text": piece}})
        await gate.wait()
        yield sse("complete", {"response": "".join(text)})

    async def answer(request: Request) -> StreamingResponse:
        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/services/{service}/stream", answer, methods=["POST"])])


CURSOR = "document.querySelector('[data-testid=streaming-indicator]')"
SHOWN = "[...document.querySelectorAll('[data-testid=message][data-role=assistant]')].pop()"
SHOWN += "?.querySelector('[data-testid=message-content]').textContent.trim()"


@pytest.mark.parametrize(
    ("text", "after"),
    [(["Call ", "`get()`"], "get()"), (["Call ", "`get()`", " and then"], "and then")],
    ids=["ends-in-code", "text-after-code"],
)
async def test_after_a_reload_mid_stream_the_tool_step_shows_at_once_and_the_cursor_follows_the_last_text(
    systems: Systems, tabs: Tabs, text: list[str], after: str
) -> None:
    gate = asyncio.Event()
    async with EmbeddedServer(held_upstream(text, gate)) as upstream:
        system = await systems(upstream_url=upstream.url)
        session_id = await system.new_session()
        tab = await open_chat(tabs, system, session_id, "alice")
        await tab.ask("When does my cron run?")
        full = "".join(text).replace("`", "")
        await tab.wait_for(f"{SHOWN} === {orjson.dumps(full).decode()}")
        await tab.by("tool-step").wait_for()

        await tab.page.reload()
        await tab.wait_for(JOINED)
        step = tab.by("tool-step")
        assert await step.count() == 1, "the tool step is there as soon as the page has joined"
        assert await step.get_attribute("data-status") == "finished"
        await tab.wait_for(f"{SHOWN} === {orjson.dumps(full).decode()}")
        assert await tab.page.evaluate(f"{CURSOR}.closest('code') === null"), "the cursor is not inside inline code"
        before = await tab.page.evaluate(f"{CURSOR}.previousSibling.textContent")
        assert before.strip().endswith(after), f"the cursor follows the last text, not {before!r}"

        gate.set()
        await tab.wait_answer("success")
        assert await tab.by("tool-step").count() == 1
        tab.assert_healthy()
