"""What every HTTP upstream provider shares: its settings, the JSON-answer fallback, lenient field access."""

from __future__ import annotations

from typing import Any

import httpx

from workers.providers.tool_calls import ToolCall, ToolUse

from .upstream import MAX_EVENT_BYTES, StreamLimits
from .vocabulary import Chunk, Complete, GenerationRequest, ProviderEvent

THINKING = "Thinking…"  # the status shown while the upstream thinks without saying what about


class HttpProvider:
    """An upstream reached by `POST`ing to `base_url`; `model` is for the providers that need one."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        model: str = "",
        client: httpx.AsyncClient | None = None,
        first_byte_timeout: float = 30.0,
        idle_timeout: float = 60.0,
        max_event_bytes: int = MAX_EVENT_BYTES,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.model = model
        self.client = client
        self.limits = StreamLimits(first_byte_timeout, idle_timeout, max_event_bytes)


def json_answer(text: str, end: ProviderEvent) -> list[ProviderEvent]:
    """The events of an answer that came as one JSON body: its text as one chunk, then its last event."""
    return [Chunk(text), end] if text else [end]


def json_round(
    request: GenerationRequest, text: str, asked: list[ToolCall], usage: dict[str, Any]
) -> list[ProviderEvent]:
    """The events of a tool-calling provider's round that came as one JSON body."""
    return json_answer(text, round_end(request, text, asked, usage))


def as_dict(value: Any) -> dict[str, Any]:
    """`value` if the upstream sent an object there, else empty: upstream JSON is checked, never trusted."""
    return value if isinstance(value, dict) else {}


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def round_end(
    request: GenerationRequest, text: str, asked: list[ToolCall], usage: dict[str, Any]
) -> Complete | ToolUse:
    """The round's last event: the tool calls it asked for, when the tenant has tools; else the answer."""
    if request.tools and asked:
        return ToolUse(asked, text, usage)
    return Complete(response=text, usage=usage)
