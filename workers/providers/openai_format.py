"""Tools in the OpenAI chat-completions wire format (OpenAI, Azure OpenAI, OpenRouter, vLLM, …)."""

from __future__ import annotations

from typing import Any

import orjson

from workers.providers.tool_calls import ToolCall, ToolRound, parse_arguments
from workers.providers.tool_history import conversation
from workers.providers.vocabulary import GenerationRequest


def tool_fields(request: GenerationRequest) -> dict[str, Any]:
    """The request body's `tools` and `tool_choice`, when the tenant has tools."""
    if not request.tools:
        return {}
    tools = [
        {
            "type": "function",
            "function": {"name": d["name"], "description": d.get("description", ""), "parameters": d["parameters"]},
        }
        for d in request.tools
    ]
    return {"tools": tools, "tool_choice": "none" if request.tool_choice_none else "auto"}


def messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """History (with its tool calls when tools are on), the question, then this answer's rounds so far."""
    return conversation(request, _round)


def _round(round_: ToolRound) -> list[dict[str, Any]]:
    calls = [
        {"id": c.call_id, "type": "function", "function": {"name": c.name, "arguments": _arguments_text(c)}}
        for c in round_.calls
    ]
    out: list[dict[str, Any]] = [{"role": "assistant", "content": round_.text or None, "tool_calls": calls}]
    out += [{"role": "tool", "tool_call_id": r.call.call_id, "content": r.content} for r in round_.results]
    return out


def _arguments_text(call: ToolCall) -> str:
    return call.arguments if isinstance(call.arguments, str) else orjson.dumps(call.arguments).decode()


class CallAssembler:
    """Tool calls from streamed deltas: `{index, id?, function: {name?, arguments?}}`, arguments in pieces."""

    def __init__(self) -> None:
        self._calls: dict[int, tuple[list[str], list[str], list[str]]] = {}  # index -> (id, name, argument pieces)

    def feed(self, deltas: Any) -> None:
        if not isinstance(deltas, list):
            return
        for position, delta in enumerate(deltas):
            if not isinstance(delta, dict):
                continue
            index = delta.get("index", position)
            call_id, name, pieces = self._calls.setdefault(index if isinstance(index, int) else position, ([], [], []))
            if isinstance(delta.get("id"), str) and not call_id:
                call_id.append(delta["id"])
            function = delta.get("function") if isinstance(delta.get("function"), dict) else {}
            if isinstance(function.get("name"), str) and not name:
                name.append(function["name"])
            if isinstance(function.get("arguments"), str):
                pieces.append(function["arguments"])

    def calls(self) -> list[ToolCall]:
        return [
            ToolCall(call_id[0] if call_id else f"call_{index}", name[0] if name else "",
                     parse_arguments("".join(pieces))[0])
            for index, (call_id, name, pieces) in sorted(self._calls.items())
        ]  # fmt: skip
