"""Real local servers for tool calling: a model that speaks OpenAI and Anthropic, and a tool webhook.

The model plays a plan chosen by the user's question: each round either asks for
tool calls (their arguments streamed in pieces, calls interleaved) or answers,
quoting every tool result it was sent, so a test can see the answer used them.
The webhook verifies every signature as the README tells host applications to.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from relay.server import EmbeddedServer

SECRET = "whsec-tools-0123456789"  # the tenant's webhook secret in tests that share the fixtures

Call = tuple[str, str, dict[str, Any]]  # (name, call id, arguments)

# question -> the calls of each round; once the plan runs out, the model answers.
PLANS: dict[str, list[list[tuple[str, Any]]]] = {
    "Where is order A1?": [[("get_order_status", {"order_id": "A1"})]],
    "Meet twice": [[("rendezvous", {"seat": 1}), ("rendezvous", {"seat": 2})]],
    "Two steps": [[("get_order_status", {"order_id": "A1"})], [("get_weather", {"city": "Lyon"})]],
    "Everything fails": [[("broken", {}), ("garbled", {}), ("launch_rockets", {}), ("refuses", {})]],
    "Take your time": [[("slow", {})]],
    "Garbled arguments": [[("get_order_status", '{"order_id": "A')]],  # text that is not JSON
}
FOREVER = "Keep calling"  # a tool call every round, until told tools are off
STUBBORN = "Never stop"  # a tool call every round, even when told tools are off
INPUT_TOKENS, OUTPUT_TOKENS = 11, 7  # usage each round reports


def answer_for(results: list[str]) -> str:
    return "From the tools: " + " | ".join(results) if results else "No tools were needed."


@dataclass
class Turn:
    """What the model makes of one request."""

    question: str
    rounds_done: int
    results: list[str]
    tools_off: bool


def _plan(turn: Turn) -> list[tuple[str, Any]]:
    if turn.question == STUBBORN or (turn.question == FOREVER and not turn.tools_off):
        return [("get_order_status", {"order_id": f"R{turn.rounds_done + 1}"})]
    if turn.tools_off:
        return []
    plan = PLANS.get(turn.question, [])
    return plan[turn.rounds_done] if turn.rounds_done < len(plan) else []


def _pieces(arguments: Any) -> list[str]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    third = max(1, len(text) // 3)
    return [text[:third], text[third : 2 * third], text[2 * third :]]


def _openai_turn(body: dict[str, Any]) -> Turn:
    messages = body["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    after = messages[last_user + 1 :]
    return Turn(
        question=messages[last_user]["content"],
        rounds_done=sum(1 for m in after if m["role"] == "assistant" and m.get("tool_calls")),
        results=[m["content"] for m in after if m["role"] == "tool"],
        tools_off=body.get("tool_choice") == "none",
    )


def _anthropic_turn(body: dict[str, Any]) -> Turn:
    messages = body["messages"]
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user" and isinstance(m["content"], str))
    after = messages[last_user + 1 :]
    results = [b["content"] for m in after if m["role"] == "user" for b in m["content"] if b["type"] == "tool_result"]
    return Turn(
        question=messages[last_user]["content"],
        rounds_done=sum(1 for m in after if m["role"] == "assistant"),
        results=results,
        tools_off=(body.get("tool_choice") or {}).get("type") == "none",
    )


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


async def _openai_events(turn: Turn) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    calls = _plan(turn)
    yield chunk({"role": "assistant", "content": ""})
    if calls:
        yield chunk({"content": "Let me look that up."})
        for index, (name, _) in enumerate(calls):
            call_id = f"call_{turn.rounds_done}_{index}"
            head = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
            yield chunk({"tool_calls": [head]})
        pieces = [_pieces(arguments) for _, arguments in calls]
        for part in range(3):  # interleaved: a piece of every call, then the next piece of each
            for index, split in enumerate(pieces):
                yield chunk({"tool_calls": [{"index": index, "function": {"arguments": split[part]}}]})
        yield chunk({}, "tool_calls")
    else:
        for word in answer_for(turn.results).split(" "):
            yield chunk({"content": word + " "})
        yield chunk({}, "stop")
    usage = {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS}
    yield _sse({"choices": [], "usage": {**usage, "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS}})
    yield b"data: [DONE]\n\n"


async def _anthropic_events(turn: Turn) -> AsyncIterator[bytes]:
    calls = _plan(turn)
    yield _sse({"type": "message_start", "message": {"usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1}}},
               "message_start")  # fmt: skip
    text = "Let me look that up." if calls else answer_for(turn.results)
    yield _sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
               "content_block_start")  # fmt: skip
    for word in text.split(" "):
        delta = {"type": "text_delta", "text": word + " "}
        yield _sse({"type": "content_block_delta", "index": 0, "delta": delta}, "content_block_delta")
    yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
    for index, (name, arguments) in enumerate(calls, start=1):
        block = {"type": "tool_use", "id": f"toolu_{turn.rounds_done}_{index}", "name": name, "input": {}}
        yield _sse({"type": "content_block_start", "index": index, "content_block": block}, "content_block_start")
        for piece in _pieces(arguments):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield _sse({"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta")
        yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
    stop = {"stop_reason": "tool_use" if calls else "end_turn"}
    yield _sse({"type": "message_delta", "delta": stop, "usage": {"output_tokens": OUTPUT_TOKENS}}, "message_delta")
    yield _sse({"type": "message_stop"}, "message_stop")


class FakeModel(EmbeddedServer):
    """OpenAI at `/chat/completions`, Anthropic at `/v1/messages`; every request body kept in `requests`."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

        async def openai(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            return StreamingResponse(_openai_events(_openai_turn(body)), media_type="text/event-stream")

        async def anthropic(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            return StreamingResponse(_anthropic_events(_anthropic_turn(body)), media_type="text/event-stream")

        app = Starlette(
            routes=[
                Route("/chat/completions", openai, methods=["POST"]),
                Route("/v1/messages", anthropic, methods=["POST"]),
            ]
        )
        super().__init__(app, lifespan="off", timeout_graceful_shutdown=1)


# --- the tool webhook -----------------------------------------------------------------------------------


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a host application does: recompute the signature over "<timestamp>.<body>", compare in constant time."""
    timestamp = headers.get("x-streamrelay-timestamp", "")
    expected = "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers.get("x-streamrelay-signature", ""))


@dataclass
class Delivery:
    """One call the webhook received (signature verified)."""

    raw: bytes
    headers: dict[str, str]
    hung_up: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.raw)


def _response(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class Webhook:
    """`async with Webhook(secret)`: a raw HTTP server on a free port that answers per tool name.

    Raw, so that it can misbehave exactly (never answer, answer forever) and see the caller hang up.
    """

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.url = ""
        self.deliveries: list[Delivery] = []
        self.arrived = asyncio.Condition()
        self.seats = asyncio.Barrier(2)  # `rendezvous` calls answer only once two are waiting at once
        self.handlers: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Webhook:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/tools"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.handlers):
            task.cancel()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    def names(self) -> list[str]:
        return [d.body["name"] for d in self.deliveries]

    async def delivery(self, name: str, within: float = 10) -> Delivery:
        async with asyncio.timeout(within), self.arrived:
            await self.arrived.wait_for(lambda: name in self.names())
        return next(d for d in self.deliveries if d.body["name"] == name)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            headers = {
                k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in head.split("\r\n")[1:] if line)
            }
            raw = await reader.readexactly(int(headers["content-length"]))
            if not verified(self.secret, headers, raw):
                writer.write(_response("401 Unauthorized", b'{"error": "bad signature"}'))
                return
            delivery = Delivery(raw, headers)
            async with self.arrived:
                self.deliveries.append(delivery)
                self.arrived.notify_all()
            answering = asyncio.create_task(self._answer(delivery.body, writer))
            hangup = asyncio.create_task(reader.read())  # b"" once the caller closes
            await asyncio.wait({answering, hangup}, return_when=asyncio.FIRST_COMPLETED)
            if hangup.done() or (answering.done() and isinstance(answering.exception(), ConnectionError)):
                delivery.hung_up.set()
            for waiting in (answering, hangup):
                waiting.cancel()
            await asyncio.gather(answering, hangup, return_exceptions=True)
        finally:
            self.handlers.discard(task)
            writer.close()

    async def _answer(self, body: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        name, arguments = body["name"], body["arguments"]
        if name == "get_order_status":
            answer = {"result": {"order_id": arguments["order_id"], "status": "shipped"}}
        elif name == "get_weather":
            answer = {"result": f"sunny in {arguments['city']}"}
        elif name == "long_report":
            answer = {"result": "x" * 2000}
        elif name == "rendezvous":
            async with asyncio.timeout(5):
                await self.seats.wait()
            answer = {"result": f"seat {arguments['seat']} taken"}
        elif name == "refuses":
            answer = {"error": "Order not found"}
        elif name == "broken":
            writer.write(_response("500 Internal Server Error", b"<html>stack trace</html>", "text/html"))
            return await writer.drain()
        elif name == "garbled":
            writer.write(_response("200 OK", b"{not json"))
            return await writer.drain()
        elif name == "endless":  # a 200 whose body never ends
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")
            piece = b'{"result": "' + b"x" * 65536
            while True:
                writer.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                await writer.drain()
        elif name == "slow":
            await asyncio.Event().wait()
        else:
            writer.write(_response("404 Not Found", b'{"error": "no such tool"}'))
            return await writer.drain()
        writer.write(_response("200 OK", json.dumps(answer).encode()))
        await writer.drain()
