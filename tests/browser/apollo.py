"""Scripted Apollo upstreams for the browser tests: a test writes the SSE events, this serves them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route


def sse(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def apollo_upstream(events: Callable[[], AsyncIterator[bytes]]) -> Starlette:
    """An upstream whose every answer is `events()`."""

    async def answer(request: Request) -> StreamingResponse:
        return StreamingResponse(events(), media_type="text/event-stream")

    return Starlette(routes=[Route("/services/{service}/stream", answer, methods=["POST"])])
