"""Anthropic Messages API streaming (`POST /v1/messages` with `stream: true`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from httpx_sse import ServerSentEvent

from workers.providers import anthropic_format
from workers.providers.http_provider import THINKING, HttpProvider, as_dict, json_round, round_end
from workers.providers.tool_calls import ToolCall
from workers.providers.upstream import JsonBody, error_message, event_object, post_events, sentence
from workers.providers.vocabulary import Chunk, GenerationRequest, ProviderEvent, Status, UpstreamError

API_VERSION = "2023-06-01"
HANDLED = frozenset(
    {"message_start", "content_block_start", "content_block_delta", "message_delta", "message_stop", "error"}
)


class AnthropicProvider(HttpProvider):
    def __init__(self, *args: Any, max_tokens: int = 4096, **options: Any) -> None:
        super().__init__(*args, **options)
        self.max_tokens = max_tokens

    async def stream(self, request: GenerationRequest) -> AsyncIterator[ProviderEvent]:
        body = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "messages": anthropic_format.messages(request),
            "stream": True,
            **anthropic_format.tool_fields(request),
        }
        headers = {"x-api-key": request.api_key or self.api_key or "", "anthropic-version": API_VERSION}
        parts: list[str] = []
        usage: dict[str, Any] = {}
        calls = anthropic_format.CallAssembler()
        url = f"{self.base_url}/v1/messages"
        answer = post_events(self.client, url, body, headers, self.limits, _is_last)
        async with contextlib.aclosing(answer) as items:
            async for item in items:
                if isinstance(item, JsonBody):
                    for event in json_round(request, *_message(item.data)):
                        yield event
                    return
                if item.event not in HANDLED:
                    continue  # ping, content_block_stop, and event types added later
                data = event_object(item)
                if item.event == "error":
                    reported = sentence(error_message(data) or "unknown")
                    raise UpstreamError(f"The AI service reported an error: {reported}")
                if item.event == "message_start":
                    usage.update(as_dict(as_dict(data.get("message")).get("usage")))
                elif item.event == "message_delta":
                    usage.update(as_dict(data.get("usage")))
                elif item.event == "message_stop":
                    yield round_end(request, "".join(parts), calls.calls(), usage)
                    return
                elif item.event == "content_block_start":
                    block = as_dict(data.get("content_block"))
                    if block.get("type") == "thinking":
                        yield Status(THINKING)
                    calls.start(data.get("index"), block)
                elif (delta := as_dict(data.get("delta"))).get("type") == "text_delta":
                    if isinstance(text := delta.get("text"), str) and text:
                        parts.append(text)
                        yield Chunk(text)
                elif delta.get("type") == "input_json_delta":
                    calls.delta(data.get("index"), delta)
        raise UpstreamError("The AI service ended the stream before it was done.", "interrupted")



def _message(data: Any) -> tuple[str, list[ToolCall], dict[str, Any]]:
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise UpstreamError("The AI service answered with JSON that is not a message.")
    blocks = [block for block in data["content"] if isinstance(block, dict)]
    text = "".join(b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str))
    calls = anthropic_format.CallAssembler()
    for index, block in enumerate(blocks):
        calls.start(index, block)
    return text, calls.calls(), as_dict(data.get("usage"))


def _is_last(event: ServerSentEvent) -> bool:
    return event.event == "message_stop"
