"""The built-in scripted upstream: a real HTTP server speaking the apollo SSE format.

What it answers depends on the question (`relay.demo_script`): a workflow, a documentation
search with a tool step, or edits to the session's job code. The request's `meta.demo` (or
the session context's `demo`) may override the script:
`{"chunks": N, "delay": seconds, "error_after": K, "drop_after": K, "revise": true, "tools": true}`,
where `error_after` and `drop_after` end the stream after K text chunks with an apollo `error`
event, or with no `complete`, `revise` makes the final workflow differ from the early one, and
`tools` plays a `tool_use` block with its `tool_result` (apollo running a tool of its own) before any answer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .demo_script import CODE, REVISED_YAML, TOOLS, WORKFLOW, WORKFLOW_YAML, answer_chunks, early_changes, kind_of
from .server import EmbeddedServer

MODEL = "demo-1"
PACE = (0.6, 1.3, 0.9, 1.1, 0.7, 1.4, 1.0)  # scripted variation of chunk_delay, deterministic
MAX_CHUNKS = 100_000
MAX_DELAY = 10.0
THINKING = {WORKFLOW: "Drafting the workflow…", TOOLS: "Reading what the search found…", CODE: "Reading the job code…"}


def create_demo_app(chunk_delay: float = 0.05, chunks: int = 40) -> Starlette:
    async def stream(request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
            script = _script(body, chunk_delay, chunks)
        except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError) as exc:
            return JSONResponse(
                {"code": 400, "type": "BAD_REQUEST", "message": f"Invalid demo request: {exc}"},
                status_code=400,
            )
        service = request.path_params["service"]
        return StreamingResponse(_events(service, body, **script), media_type="text/event-stream")

    return Starlette(routes=[Route("/services/{service}/stream", stream, methods=["POST"])])


def _script(body: Any, chunk_delay: float, chunks: int) -> dict[str, Any]:
    if not isinstance(body.get("content"), str):
        raise ValueError("content must be a string")
    demo = (body.get("meta") or {}).get("demo") or (body.get("context") or {}).get("demo") or {}
    script = {
        "revise": demo.get("revise") is True,
        "tools": demo.get("tools") is True,
        "chunks": min(max(int(demo.get("chunks", chunks)), 1), MAX_CHUNKS),
        "delay": min(max(float(demo.get("delay", chunk_delay)), 0.0), MAX_DELAY),
    }
    for key in ("error_after", "drop_after"):
        script[key] = int(demo[key]) if demo.get(key) is not None else None
    return script


def _sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _anthropic(event: str, **fields: Any) -> bytes:
    """An event in the Anthropic shape apollo forwards: its name repeated as `type` in the data."""
    return _sse(event, {"type": event, **fields})


def _tool_use(question: str) -> list[bytes]:
    """Apollo searching the docs with a tool of its own: the call, its input in two pieces, its result."""
    call = {"type": "tool_use", "id": f"toolu_demo_{uuid.uuid4().hex[:12]}", "name": "search_docs", "input": {}}
    arguments = orjson.dumps({"query": " ".join(question.split()[:8])}).decode()
    half = len(arguments) // 2
    result = {
        "type": "tool_result",
        "tool_use_id": call["id"],
        "content": "3 pages: HTTP adaptor, PostgreSQL adaptor, cron triggers",
    }
    return [
        _anthropic("content_block_start", index=2, content_block=call),
        *(
            _anthropic("content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": piece})
            for piece in (arguments[:half], arguments[half:])
        ),
        _anthropic("content_block_stop", index=2),
        _anthropic("content_block_start", index=3, content_block=result),
        _anthropic("content_block_stop", index=3),
    ]


def _pause(delay: float, i: int) -> float:
    return delay * PACE[i % len(PACE)]


async def _events(
    service: str,
    body: dict[str, Any],
    chunks: int,
    delay: float,
    error_after: int | None,
    drop_after: int | None,
    revise: bool,
    tools: bool,
) -> AsyncIterator[bytes]:
    question = body["content"]
    kind = kind_of(question)
    history = body.get("history") or []
    input_tokens = sum(len(str(m.get("content", "")).split()) for m in history) + len(question.split())
    pieces = answer_chunks(question, chunks, kind)
    usage = {"input_tokens": input_tokens, "output_tokens": len(pieces)}
    message = {"id": f"msg_demo_{uuid.uuid4().hex[:16]}", "type": "message", "role": "assistant"}

    yield _anthropic(
        "message_start",
        message={**message, "content": [], "model": MODEL, "usage": {**usage, "output_tokens": 0}},
    )
    yield _anthropic("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""})
    for i, status in enumerate(("Searching documentation…", THINKING[kind])):
        await asyncio.sleep(_pause(delay, i) * 3)
        yield _anthropic("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": status})
    yield _anthropic("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "demo"})
    yield _anthropic("content_block_stop", index=0)
    yield _sse("log", f"demo: answering in {len(pieces)} chunks for service {service}")
    if tools or kind == TOOLS:
        for event in _tool_use(question):
            await asyncio.sleep(delay)
            yield event
    changes = early_changes(kind, body.get("context") if isinstance(body.get("context"), dict) else {})
    if changes is not None:
        yield _sse("changes", changes)
    yield _anthropic("content_block_start", index=1, content_block={"type": "text", "text": ""})
    for i, piece in enumerate(pieces):
        if i == error_after:
            yield _sse("error", {"code": 500, "type": "DEMO_ERROR", "message": "The demo upstream failed on request"})
            return
        if i == drop_after:
            return
        await asyncio.sleep(_pause(delay, i))
        yield _anthropic("content_block_delta", index=1, delta={"type": "text_delta", "text": piece})
    yield _anthropic("content_block_stop", index=1)
    yield _anthropic("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": len(pieces)})
    yield _anthropic("message_stop")
    response = "".join(pieces)
    yield _sse(
        "complete",
        {
            "response": response,
            **({"response_yaml": REVISED_YAML if revise else WORKFLOW_YAML} if kind == WORKFLOW else {}),
            "history": [
                *history,
                {"role": "user", "content": question},
                {"role": "assistant", "content": response},
            ],
            "usage": usage,
            "meta": {"demo": True, "service": service, "model": MODEL},
        },
    )


class DemoUpstream(EmbeddedServer):
    """The demo app served with uvicorn in the current event loop; `url` is set once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, chunk_delay: float = 0.05, chunks: int = 40):
        super().__init__(create_demo_app(chunk_delay, chunks), host, port, lifespan="off", timeout_graceful_shutdown=1)
