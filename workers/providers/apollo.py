"""The apollo upstream (OpenFn's AI service): `POST /services/<service>/stream`, Anthropic-style SSE."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import httpx

from workers.providers.base import (
    Changes,
    Chunk,
    Complete,
    GenerationRequest,
    ProviderEvent,
    Status,
    UpstreamError,
)
from workers.providers.sse import MAX_EVENT_BYTES, JsonBody, StreamLimits, event_object, post_events, sentence
from workers.tools.apollo_steps import ApolloToolUse

logger = logging.getLogger(__name__)

DEFAULT_SERVICE = "job_chat"
THINKING = "Thinking…"
CHANGE_KEYS = ("code", "code_edits", "yaml")
IGNORED = frozenset({"message_start", "message_delta", "message_stop", "ping"})
BLOCK_EVENTS = frozenset({"content_block_start", "content_block_delta", "content_block_stop"})
SERVICE_NAME = re.compile(r"[A-Za-z0-9_-]+")


class ApolloProvider:
    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        first_byte_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.client = client
        self.limits = StreamLimits(first_byte_timeout, idle_timeout, max_event_bytes)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[ProviderEvent]:
        service = request.context.get("service") or DEFAULT_SERVICE
        if not isinstance(service, str) or not SERVICE_NAME.fullmatch(service):
            raise UpstreamError(f"The assistant service {service!r} is not a valid service name.")
        body = {
            "content": request.content,
            "history": request.history,
            "context": request.context,
            "meta": request.meta,
            "stream": True,
            "api_key": request.api_key or self.api_key,
        }
        url = f"{self.base_url}/services/{service}/stream"
        tools = ApolloToolUse()  # Apollo's own tool use, shown as steps
        async for item in post_events(self.client, url, body, {}, self.limits):
            if isinstance(item, JsonBody):
                complete = _complete(item.data, "answer")
                if complete.response:
                    yield Chunk(complete.response)
                yield complete
                return
            if item.event in IGNORED:
                continue
            if item.event == "log":
                logger.info("apollo log: %s", item.data)
                continue
            if item.event not in HANDLERS:
                logger.info("ignoring unknown apollo event %r", item.event)
                continue
            data = event_object(item)
            if item.event in BLOCK_EVENTS:
                for step in tools.observe(item.event, data):
                    yield step
            event = HANDLERS[item.event](data)
            if isinstance(event, Complete):
                for step in tools.finish_all():
                    yield step
            if event is not None:
                yield event
            if isinstance(event, Complete):
                return
        raise UpstreamError("The AI service ended the stream without a final answer.", "interrupted")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _block_start(data: dict[str, Any]) -> Status | None:
    block = _dict(data.get("content_block"))
    if block.get("type") != "thinking":
        return None
    return Status(_text(block.get("thinking")) or THINKING)


def _block_delta(data: dict[str, Any]) -> Status | Chunk | None:
    delta = _dict(data.get("delta"))
    if delta.get("type") == "text_delta" and (text := _text(delta.get("text"))):
        return Chunk(text)
    if delta.get("type") == "thinking_delta" and (text := _text(delta.get("thinking"))):
        return Status(text)
    return None  # signature_delta and anything else carry nothing to show


def _changes(data: dict[str, Any]) -> Changes | None:
    changes = {key: data[key] for key in CHANGE_KEYS if data.get(key) is not None}
    if not changes:
        logger.info("ignoring apollo changes event without code, code_edits or yaml")
        return None
    return Changes(changes)


def _error(data: dict[str, Any]) -> NoReturn:
    message = _text(data.get("message")).strip() or "an unknown error"
    code = data.get("code")
    suffix = f" (code {code})" if code is not None else ""
    raise UpstreamError(f"The AI service reported an error: {sentence(message.rstrip('.') + suffix)}")


def _complete(data: Any, what: str = "'complete' event") -> Complete:
    if not isinstance(data, dict):
        raise UpstreamError(f"The AI service sent a malformed {what}.")
    if "response" not in data:
        if "message" in data:  # an apollo error envelope served with a success status
            _error(data)
        raise UpstreamError(f"The AI service sent a {what} without a response.")
    response = "" if data["response"] is None else data["response"]
    if not isinstance(response, str):
        raise UpstreamError(f"The AI service sent a {what} whose response is not text.")
    changes = []
    if code := _text(data.get("suggested_code")):
        changes.append({"code": code})
    if yaml := _text(data.get("response_yaml")):
        changes.append({"yaml": yaml})
    return Complete(
        response=response,
        changes=changes,
        usage=_dict(data.get("usage")),
        meta=_dict(data.get("meta")),
    )


HANDLERS = {
    "content_block_start": _block_start,
    "content_block_stop": lambda data: None,
    "content_block_delta": _block_delta,
    "changes": _changes,
    "error": _error,
    "complete": _complete,
}
