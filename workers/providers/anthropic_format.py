"""Tools in the Anthropic Messages wire format: `tool_use` blocks out, `tool_result` blocks back."""

from __future__ import annotations

from typing import Any

from workers.providers.tool_calls import ToolCall, ToolRound, parse_arguments
from workers.providers.tool_history import conversation
from workers.providers.vocabulary import GenerationRequest


def tool_fields(request: GenerationRequest) -> dict[str, Any]:
    """The request body's `tools` and `tool_choice`, when the tenant has tools."""
    if not request.tools:
        return {}
    tools = [
        {"name": d["name"], "description": d.get("description", ""), "input_schema": d["parameters"]}
        for d in request.tools
    ]
    return {"tools": tools, "tool_choice": {"type": "none" if request.tool_choice_none else "auto"}}


def messages(request: GenerationRequest) -> list[dict[str, Any]]:
    """History (with its tool calls when tools are on), the question, then this answer's rounds so far.

    Anthropic refuses tool blocks in a request without `tools`, so without tools the history is text only;
    and it refuses an assistant turn without content.
    """
    return conversation(request, _round, empty_turns=False)


def _round(round_: ToolRound) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": round_.text}] if round_.text else []
    blocks += [{"type": "tool_use", "id": c.call_id, "name": c.name, "input": _input(c)} for c in round_.calls]
    results = [
        {"type": "tool_result", "tool_use_id": r.call.call_id, "content": r.content, "is_error": r.status == "failed"}
        for r in round_.results
    ]
    return [{"role": "assistant", "content": blocks}, {"role": "user", "content": results}]


def _input(call: ToolCall) -> dict[str, Any]:
    return call.arguments if isinstance(call.arguments, dict) else {}


class CallAssembler:
    """Tool calls from `tool_use` content blocks, their input streamed as `input_json_delta` pieces."""

    def __init__(self) -> None:
        self._blocks: dict[int, tuple[str, str, Any, list[str]]] = {}  # index -> (id, name, start input, pieces)

    def start(self, index: Any, block: dict[str, Any]) -> bool:
        """Note a `content_block_start`; True if it opened a tool call."""
        if block.get("type") != "tool_use" or not isinstance(index, int):
            return False
        call_id, name = block.get("id"), block.get("name")
        self._blocks[index] = (call_id if isinstance(call_id, str) else f"toolu_{index}",
                               name if isinstance(name, str) else "", block.get("input"), [])  # fmt: skip
        return True

    def delta(self, index: Any, delta: dict[str, Any]) -> None:
        if index in self._blocks and isinstance(delta.get("partial_json"), str):
            self._blocks[index][3].append(delta["partial_json"])

    def calls(self) -> list[ToolCall]:
        calls = []
        for _, (call_id, name, start_input, pieces) in sorted(self._blocks.items()):
            arguments = parse_arguments("".join(pieces))[0] if pieces else start_input
            calls.append(ToolCall(call_id, name, arguments if arguments is not None else {}))
        return calls
