"""Tool calls as the worker sees them, whatever the provider: what the model asked, what came back.

A provider that streams a round ending in tool calls yields `ToolUse` instead of
`Complete`; the tool loop runs the calls, announces each as `ToolStep`s, and asks
the provider again with every `ToolRound` so far.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

PREVIEW_CHARS = 500
STARTED, FINISHED, FAILED = "started", "finished", "failed"


@dataclass(frozen=True)
class ToolCall:
    """One call the model asked for. `arguments` is the parsed JSON object, or the raw text if it was not one."""

    call_id: str
    name: str
    arguments: Any


@dataclass(frozen=True)
class ToolResult:
    """How a call ended. `content` is what the model is told; `preview` is what people see."""

    call: ToolCall
    status: Literal["finished", "failed"]
    content: str
    preview: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class ToolUse:
    """A round of the model ended asking for these calls (the round's text and usage with it)."""

    calls: list[ToolCall]
    text: str = ""
    usage: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolRound:
    """A finished round, as sent back to the model: its text, its calls, their results (in call order)."""

    text: str
    calls: list[ToolCall]
    results: list[ToolResult]


@dataclass(frozen=True)
class ToolStep:
    """A call started, finished or failed (then with its `result`): becomes a `streaming_tool` event."""

    call: ToolCall
    status: str
    round: int = 1
    result: ToolResult | None = None

    def payload(self) -> dict[str, Any]:
        payload = {"call_id": self.call.call_id, "name": self.call.name, "arguments": self.call.arguments}
        payload["status"] = self.status
        if self.result is not None and self.result.preview is not None:
            payload["result_preview"] = self.result.preview
        if self.result is not None and self.result.error is not None:
            payload["error"] = self.result.error
        return payload


def parse_arguments(text: str) -> tuple[Any, bool]:
    """(arguments, valid): the model's argument text as a JSON object; empty text is `{}`."""
    if not text.strip():
        return {}, True
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text, False
    return (value, True) if isinstance(value, dict) else (text, False)


def result_text(result: Any) -> str:
    """A webhook's result as the model reads it: text as is, anything else as JSON."""
    if isinstance(result, str):
        return result
    return orjson.dumps(result).decode()


def preview(text: str) -> str:
    """At most `PREVIEW_CHARS` characters, an ellipsis marking a cut."""
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def finished(call: ToolCall, result: Any) -> ToolResult:
    text = result_text(result)
    return ToolResult(call, "finished", text, preview=preview(text))


def failed(call: ToolCall, error: str) -> ToolResult:
    return ToolResult(call, "failed", f"The tool call failed: {error}", error=error)


def add_usage(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """Usage of several rounds: numbers add up key by key (nested maps too); anything else, the latest wins."""
    merged = dict(total)
    for key, value in more.items():
        before = merged.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float | dict):
            merged[key] = value
        elif isinstance(value, dict):
            merged[key] = add_usage(before if isinstance(before, dict) else {}, value)
        elif isinstance(before, int | float) and not isinstance(before, bool):
            merged[key] = before + value
        else:
            merged[key] = value
    return merged
