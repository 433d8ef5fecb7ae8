"""The apollo upstream (OpenFn's AI service): `POST /services/<service>/stream`, Anthropic-style SSE."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator
from typing import Any, NoReturn

from httpx_sse import ServerSentEvent

from workers.providers.apollo_steps import ApolloToolUse
from workers.providers.http_provider import THINKING, HttpProvider, as_dict, as_text, json_answer
from workers.providers.upstream import JsonBody, event_object, post_events, sentence
from workers.providers.vocabulary import (
    Changes,
    Chunk,
    Complete,
    GenerationRequest,
    ProviderEvent,
    Status,
    UpstreamError,
    no_final_answer,
)

logger = logging.getLogger(__name__)

DEFAULT_SERVICE = "job_chat"
CHANGE_KEYS = ("code", "code_edits", "yaml")
IGNORED = frozenset({"message_start", "message_delta", "message_stop", "ping"})
BLOCK_EVENTS = frozenset({"content_block_start", "content_block_delta", "content_block_stop"})
SERVICE_NAME = re.compile(r"[A-Za-z0-9_-]+")


class ApolloProvider(HttpProvider):
    async def stream(self, request: GenerationRequest) -> AsyncIterator[ProviderEvent]:
        service = request.context.get("service") or DEFAULT_SERVICE
        if not isinstance(service, str) or not SERVICE_NAME.fullmatch(service):
            raise UpstreamError(f"The assistant service {service!r} is not a valid service name.")
        body = {
            "content": request.content,
            "history": [{"role": m["role"], "content": m["content"]} for m in request.history],
            "context": request.context,
            "meta": request.meta,
            "stream": True,
            "api_key": request.api_key or self.api_key,
        }
        url = f"{self.base_url}/services/{service}/stream"
        tools = ApolloToolUse()  # Apollo's own tool use, shown as steps
        answer = post_events(self.client, url, body, {}, self.limits, _is_last)
        async with contextlib.aclosing(answer) as items:
            async for item in items:
                if isinstance(item, JsonBody):
                    complete = _complete(item.data, "answer")
                    for event in json_answer(complete.response, complete):
                        yield event
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
        raise no_final_answer()


def _block_start(data: dict[str, Any]) -> Status | None:
    block = as_dict(data.get("content_block"))
    if block.get("type") != "thinking":
        return None
    return Status(as_text(block.get("thinking")) or THINKING)


def _block_delta(data: dict[str, Any]) -> Status | Chunk | None:
    delta = as_dict(data.get("delta"))
    if delta.get("type") == "text_delta" and (text := as_text(delta.get("text"))):
        return Chunk(text)
    if delta.get("type") == "thinking_delta" and (text := as_text(delta.get("thinking"))):
        return Status(text)
    return None  # signature_delta and anything else carry nothing to show


def _changes(data: dict[str, Any]) -> Changes | None:
    changes = {key: data[key] for key in CHANGE_KEYS if data.get(key) is not None}
    if not changes:
        logger.info("ignoring apollo changes event without code, code_edits or yaml")
        return None
    return Changes(changes)


def _error(data: dict[str, Any]) -> NoReturn:
    message = as_text(data.get("message")).strip() or "an unknown error"
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
    if code := as_text(data.get("suggested_code")):
        changes.append({"code": code})
    if yaml := as_text(data.get("response_yaml")):
        changes.append({"yaml": yaml})
    return Complete(
        response=response,
        changes=changes,
        usage=as_dict(data.get("usage")),
        meta=as_dict(data.get("meta")),
    )


HANDLERS = {
    "content_block_start": _block_start,
    "content_block_stop": lambda data: None,
    "content_block_delta": _block_delta,
    "changes": _changes,
    "error": _error,
    "complete": _complete,
}


def _is_last(event: ServerSentEvent) -> bool:
    return event.event == "complete"
