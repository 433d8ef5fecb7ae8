"""Apollo's own tool use, surfaced as steps: Apollo runs its tools itself, streamed as Anthropic-style blocks.

A `tool_use` block becomes a `started` step once its input is complete; the
call is over (`finished`, or `failed` when the result says it is an error) when
a `tool_result` block for it arrives, else when the model writes again or the
answer completes.
"""

from __future__ import annotations

from typing import Any

from workers.providers.tool_calls import (
    FAILED,
    FINISHED,
    STARTED,
    ToolCall,
    ToolResult,
    ToolStep,
    parse_arguments,
    preview,
)
from workers.providers.tool_calls import result_text as as_text
from workers.providers.vocabulary import Status

TOOL_USE = frozenset({"tool_use", "server_tool_use"})


class ApolloToolUse:
    def __init__(self) -> None:
        self._open: dict[int, tuple[str, str, Any, list[str]]] = {}  # block index -> (id, name, input, pieces)
        self._running: dict[str, ToolCall] = {}

    def observe(self, event: str, data: dict[str, Any]) -> list[ToolStep | Status]:
        """The steps a content block event makes; nothing for most (text deltas)."""
        if event == "content_block_delta":
            if self._open:
                self.block_delta(data)
            return []
        if event == "content_block_start":
            return list(self.block_start(data))
        if event == "content_block_stop":
            return self.block_stop(data)
        return []

    def block_start(self, data: dict[str, Any]) -> list[ToolStep]:
        block = data.get("content_block") if isinstance(data.get("content_block"), dict) else {}
        kind, index = block.get("type"), data.get("index")
        if kind in TOOL_USE and isinstance(index, int):
            call_id = block.get("id") if isinstance(block.get("id"), str) else f"apollo_{index}"
            name = block.get("name") if isinstance(block.get("name"), str) else ""
            self._open[index] = (call_id, name, block.get("input"), [])
            return []
        if isinstance(kind, str) and kind.endswith("tool_result") and block.get("tool_use_id") in self._running:
            call = self._running.pop(block["tool_use_id"])
            text = _content_text(block.get("content"))
            if block.get("is_error"):
                return [ToolStep(call, FAILED, result=ToolResult(call, "failed", text, error=preview(text) or None))]
            return [ToolStep(call, FINISHED, result=ToolResult(call, "finished", text, preview=preview(text)))]
        if kind == "text":
            return self.finish_all()
        return []

    def block_delta(self, data: dict[str, Any]) -> None:
        delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
        opened = self._open.get(data.get("index"))  # type: ignore[arg-type]
        if (
            opened is not None
            and delta.get("type") == "input_json_delta"
            and isinstance(delta.get("partial_json"), str)
        ):
            opened[3].append(delta["partial_json"])

    def block_stop(self, data: dict[str, Any]) -> list[ToolStep | Status]:
        opened = self._open.pop(data.get("index"), None)  # type: ignore[arg-type]
        if opened is None:
            return []
        call_id, name, start_input, pieces = opened
        arguments = parse_arguments("".join(pieces))[0] if pieces else start_input
        call = ToolCall(call_id, name, arguments if arguments is not None else {})
        self._running[call_id] = call
        return [ToolStep(call, STARTED), Status(f"Calling {name}…")]

    def finish_all(self) -> list[ToolStep]:
        """The model went on: the calls it was waiting for are done."""
        done = [ToolStep(call, FINISHED, result=ToolResult(call, "finished", "")) for call in self._running.values()]
        self._running.clear()
        return done


def _content_text(content: Any) -> str:
    if isinstance(content, list):
        texts = [b["text"] for b in content if isinstance(b, dict) and isinstance(b.get("text"), str)]
        if len(texts) == len(content):
            return "\n".join(texts)
    return "" if content is None else as_text(content)
