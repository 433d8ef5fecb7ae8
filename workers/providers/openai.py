"""OpenAI-compatible `/chat/completions` streaming (OpenAI, Azure, OpenRouter, vLLM, llama.cpp, Ollama)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from workers.providers.events import Chunk, Complete, GenerationRequest, ProviderEvent, UpstreamError
from workers.providers.http_provider import HttpProvider, json_answer
from workers.providers.upstream import JsonBody, error_message, event_object, post_events, sentence


class OpenAIProvider(HttpProvider):
    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.url = f"{self.base_url}/chat/completions"

    def headers(self, key: str | None) -> dict[str, str]:
        return {"authorization": f"Bearer {key}"} if key else {}

    async def stream(self, request: GenerationRequest) -> AsyncIterator[ProviderEvent]:
        body = {
            "model": self.model,
            "messages": [*request.history, {"role": "user", "content": request.content}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        key = request.api_key or self.api_key
        headers = self.headers(key)
        parts: list[str] = []
        usage: dict[str, Any] = {}
        async for item in post_events(self.client, self.url, body, headers, self.limits):
            if isinstance(item, JsonBody):
                for event in json_answer(_completion(item.data)):
                    yield event
                return
            if item.data.strip() == "[DONE]":
                yield Complete(response="".join(parts), usage=usage)
                return
            data = event_object(item)
            _raise_if_error(data)
            if isinstance(data.get("usage"), dict):
                usage = data["usage"]
            if text := _content(_first_choice(data).get("delta")):
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


def _completion(data: Any) -> Complete:
    if not isinstance(data, dict):
        raise UpstreamError("The AI service answered with JSON that is not a chat completion.")
    _raise_if_error(data)
    choice = _first_choice(data)
    if not isinstance(choice.get("message"), dict):
        raise UpstreamError("The AI service answered with JSON that is not a chat completion.")
    usage = data.get("usage")
    return Complete(response=_content(choice["message"]), usage=usage if isinstance(usage, dict) else {})
