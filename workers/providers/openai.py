"""OpenAI-compatible `/chat/completions` streaming (OpenAI, Azure, OpenRouter, vLLM, llama.cpp, Ollama)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from httpx_sse import ServerSentEvent

from workers.providers import openai_format
from workers.providers.http_provider import HttpProvider, as_dict, json_round, round_end
from workers.providers.tool_calls import ToolCall
from workers.providers.upstream import JsonBody, error_message, event_object, post_events, sentence
from workers.providers.vocabulary import Chunk, GenerationRequest, ProviderEvent, UpstreamError


class OpenAIProvider(HttpProvider):
    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.url = f"{self.base_url}/chat/completions"

    def headers(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    async def stream(self, request: GenerationRequest) -> AsyncIterator[ProviderEvent]:
        body = {
            "model": self.model,
            "messages": openai_format.messages(request),
            "stream": True,
            "stream_options": {"include_usage": True},
            **openai_format.tool_fields(request),
        }
        key = request.api_key or self.api_key
        headers = self.headers(key)
        parts: list[str] = []
        usage: dict[str, Any] = {}
        calls = openai_format.CallAssembler()
        answer = post_events(self.client, self.url, body, headers, self.limits, _is_last)
        async with contextlib.aclosing(answer) as items:
            async for item in items:
                if isinstance(item, JsonBody):
                    for event in json_round(request, *_completion(item.data)):
                        yield event
                    return
                if item.data.strip() == "[DONE]":
                    yield round_end(request, "".join(parts), calls.calls(), usage)
                    return
                data = event_object(item)
                _raise_if_error(data)
                if isinstance(data.get("usage"), dict):
                    usage = data["usage"]
                delta = _first_choice(data).get("delta")
                if isinstance(delta, dict):
                    calls.feed(delta.get("tool_calls"))
                if text := _content(delta):
                    parts.append(text)
                    yield Chunk(text)
        raise UpstreamError("The AI service ended the stream before it was done.", "interrupted")


def _raise_if_error(data: dict[str, Any]) -> None:
    if "error" in data:
        raise UpstreamError(f"The AI service reported an error: {sentence(error_message(data) or 'unknown')}")


def _first_choice(data: dict[str, Any]) -> dict[str, Any]:
    choices = data.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return {}


def _content(message: Any) -> str:
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""



def _completion(data: Any) -> tuple[str, list[ToolCall], dict[str, Any]]:
    if not isinstance(data, dict):
        raise UpstreamError("The AI service answered with JSON that is not a chat completion.")
    _raise_if_error(data)
    choice = _first_choice(data)
    if not isinstance(choice.get("message"), dict):
        raise UpstreamError("The AI service answered with JSON that is not a chat completion.")
    calls = openai_format.CallAssembler()
    calls.feed(choice["message"].get("tool_calls"))
    return _content(choice["message"]), calls.calls(), as_dict(data.get("usage"))


def _is_last(event: ServerSentEvent) -> bool:
    return event.data.strip() == "[DONE]"
