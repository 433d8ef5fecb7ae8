"""The Vercel AI SDK's chat endpoint: `useChat` with `DefaultChatTransport` works against the relay unchanged.

`POST /api/ai-sdk/chat` starts a generation as `POST …/messages` does (the body's
`id` is the session id; only the last user message's text is taken, the history
is the relay's own) and streams the answer back as a UI message stream.
`GET /api/ai-sdk/chat/{session_id}/stream` is the transport's reconnect: the
answer in flight from its start (its snapshot, then live), or 204. Both follow
the generation with `GenerationWatch`, as the SSE routes do; relay/ai_sdk_chunks.py
maps its events to chunks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .ai_sdk_chunks import DONE, HEADERS, UIMessage, encode
from .api import Handler, endpoint, json_body
from .auth import Claims
from .broker.base import BrokerUnavailable
from .errors import bad_request, translate
from .gateway import Gateway
from .generation_watch import GenerationWatch

SUBMIT, REGENERATE = "submit-message", "regenerate-message"
KEEP_ALIVE_SECONDS = 15.0


@dataclass(frozen=True)
class ChatRequest:
    session_id: str
    trigger: str
    text: str | None  # the new user message's (None for a regenerate)
    edit: str | None  # the stored user message it replaces, when the SDK edits one (`messageId`)


def parse_request(body: dict[str, Any]) -> ChatRequest:
    """The AI SDK's request body; of its `messages` only the last one's text is used (on `submit-message`)."""
    session_id, trigger, message_id = body.get("id"), body.get("trigger", SUBMIT), body.get("messageId")
    if not isinstance(session_id, str) or not session_id:
        raise bad_request("id must be the streamrelay session id")
    if trigger not in (SUBMIT, REGENERATE):
        raise bad_request(f"trigger must be {SUBMIT!r} or {REGENERATE!r}")
    if message_id is not None and not isinstance(message_id, str):
        raise bad_request("messageId must be a string")
    if trigger == REGENERATE:
        return ChatRequest(session_id, trigger, None, None)
    messages = body.get("messages")
    last = messages[-1] if isinstance(messages, list) and messages else None
    if not isinstance(last, dict) or last.get("role") != "user" or not isinstance(last.get("parts"), list):
        raise bad_request("the last of messages must be the user's message, with its parts")
    texts = [part.get("text") for part in last["parts"] if isinstance(part, dict) and part.get("type") == "text"]
    if not all(isinstance(text, str) for text in texts):
        raise bad_request("a text part's text must be a string")
    return ChatRequest(session_id, trigger, "".join(texts), message_id)


def ui_stream(chunks: AsyncGenerator[bytes, None]) -> StreamingResponse:
    return StreamingResponse(kept_alive(chunks), media_type="text/event-stream", headers=HEADERS)


async def kept_alive(chunks: AsyncGenerator[bytes, None]) -> AsyncIterator[bytes]:
    """`chunks`, with an SSE comment after each `KEEP_ALIVE_SECONDS` of silence (a long tool call), so that
    proxies keep the response open; the SDK's parser skips comments."""
    pending: asyncio.Future[bytes] | None = None
    try:
        while True:
            pending = pending or asyncio.ensure_future(anext(chunks))
            done, _ = await asyncio.wait({pending}, timeout=KEEP_ALIVE_SECONDS)
            if not done:
                yield b": keep-alive\n\n"
                continue
            try:
                chunk = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield chunk
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pending
        await chunks.aclose()


async def chat(request: Request, gateway: Gateway, claims: Claims) -> Response:
    wanted = parse_request(await json_body(request))
    await gateway.chat.check_access(claims, wanted.session_id)
    watch = GenerationWatch(gateway, claims, wanted.session_id)
    await watch.start()
    try:
        if wanted.trigger == REGENERATE:
            _, answer = await gateway.chat.regenerate(claims, wanted.session_id)
        else:
            _, answer = await gateway.chat.send_message(claims, wanted.session_id, wanted.text, wanted.edit)
    except BaseException:
        watch.stop()
        raise
    message = UIMessage(answer)
    return ui_stream(follow(watch, message, message.start()))


async def reconnect(request: Request, gateway: Gateway, claims: Claims) -> Response:
    """The answer in flight from its start, or 204: subscribed first, then the snapshot, then what follows it."""
    session_id = request.path_params["session_id"]
    await gateway.chat.check_access(claims, session_id)
    watch = GenerationWatch(gateway, claims, session_id)
    await watch.start()
    try:
        snapshot = await gateway.broker.event_log.snapshot(session_id)
    except BaseException:
        watch.stop()
        raise
    if snapshot.streaming is None:
        watch.stop()
        return Response(status_code=204)
    watch.after(snapshot.epoch, snapshot.seq)
    message = UIMessage(snapshot.streaming.message_id)
    first = message.start() + message.snapshot(snapshot.streaming.to_dict(snapshot.seq))
    return ui_stream(follow(watch, message, first))


async def follow(
    watch: GenerationWatch, message: UIMessage, first: list[dict[str, Any]]
) -> AsyncGenerator[bytes, None]:
    """`first`, then the generation's chunks up to `finish`. When events were missed (the broker reconnected) it
    catches up from the snapshot and follows on; its end is read from SQL when the broker cannot tell it."""
    try:
        for chunk in first:
            yield encode(chunk)
        while not message.finished:
            async for envelope in watch.until_final(message.message_id):
                for chunk in message.event(envelope):
                    yield encode(chunk)
            if message.finished or (found := await in_flight(watch, message.message_id)) is None:
                break
            epoch, seq, streaming = found
            watch.after(epoch, seq)
            for chunk in message.snapshot(streaming):
                yield encode(chunk)
        if not message.finished:
            try:
                final = await watch.gateway.chat.wait_final(watch.claims, watch.session_id, message.message_id)
            except Exception as exc:
                refusal = translate(exc)
                if refusal is None:
                    raise
                yield encode({"type": "error", "errorText": refusal.message})
            else:
                for chunk in message.final(final):
                    yield encode(chunk)
        yield DONE
    finally:
        watch.stop()


async def in_flight(watch: GenerationWatch, message_id: str) -> tuple[str, int, dict[str, Any]] | None:
    """The session's position and `message_id` as it has streamed, while it is the message in flight; None once
    it is not (or the broker cannot say)."""
    try:
        snapshot = await watch.gateway.broker.event_log.snapshot(watch.session_id)
    except BrokerUnavailable:
        return None
    streaming = snapshot.streaming
    if streaming is None or streaming.message_id != message_id:
        return None
    return snapshot.epoch, snapshot.seq, streaming.to_dict(snapshot.seq)


def routes(gateway: Gateway) -> list[Route]:
    def route(path: str, handler: Handler, method: str) -> Route:
        return Route(path, endpoint(handler, gateway), methods=[method])

    return [
        route("/api/ai-sdk/chat", chat, "POST"),
        route("/api/ai-sdk/chat/{session_id}/stream", reconnect, "GET"),
    ]
