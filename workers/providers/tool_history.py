"""A message's tool calls as persisted (`chat_messages.tool_calls`), and back into rounds for later turns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workers.providers.tool_calls import FAILED, STARTED, ToolCall, ToolResult, ToolRound, ToolStep, failed
from workers.providers.vocabulary import GenerationRequest

HISTORY_RESULT_CHARS = 16_000  # what later turns tell the model of a result; the rest is cut
UNFINISHED = "The response ended before the tool answered."


class ToolRecord:
    """The tool calls of one generation, kept up to date from its `ToolStep`s, in the order they started."""

    def __init__(self) -> None:
        self._entries: list[dict[str, Any]] = []

    def note(self, step: ToolStep) -> None:
        if step.status == STARTED:
            call = step.call
            self._entries.append(
                {"call_id": call.call_id, "name": call.name, "arguments": call.arguments, "status": STARTED,
                 "result_preview": None, "error": None, "round": step.round, "result": None}
            )  # fmt: skip
            return
        for entry in reversed(self._entries):
            if entry["call_id"] == step.call.call_id and entry["status"] == STARTED:
                result = step.result
                entry["status"] = step.status
                if result is not None:
                    entry["result_preview"], entry["error"] = result.preview, result.error
                    entry["result"] = _cut(result.content)
                return

    def unfinished_steps(self) -> list[ToolStep]:
        """The `failed` steps of calls still running (the generation was stopped or failed meanwhile)."""
        return [
            ToolStep(call, FAILED, entry["round"], failed(call, UNFINISHED))
            for entry in self._entries
            if entry["status"] == STARTED
            for call in [ToolCall(entry["call_id"], entry["name"], entry["arguments"])]
        ]

    def final(self) -> list[dict[str, Any]]:
        """What is persisted: every call, the unfinished ones failed."""
        for entry in self._entries:
            if entry["status"] == STARTED:
                entry["status"], entry["error"] = FAILED, UNFINISHED
        return [dict(entry) for entry in self._entries]


def rounds_of(entries: list[dict[str, Any]]) -> list[ToolRound]:
    """Persisted calls back into rounds, for the history sent upstream on later turns."""
    rounds: dict[int, ToolRound] = {}
    for entry in entries:
        if entry.get("status") == STARTED or not isinstance(entry.get("call_id"), str):
            continue
        call = ToolCall(entry["call_id"], entry.get("name", ""), entry.get("arguments"))
        content = entry.get("result") or ""
        result = ToolResult(call, "finished" if entry["status"] != FAILED else "failed", content)
        round_ = rounds.setdefault(entry.get("round") or 1, ToolRound("", [], []))
        round_.calls.append(call)
        round_.results.append(result)
    return [rounds[key] for key in sorted(rounds)]


def _cut(text: str) -> str:
    return text if len(text) <= HISTORY_RESULT_CHARS else text[: HISTORY_RESULT_CHARS - 1] + "…"


def conversation(
    request: GenerationRequest, encode_round: Callable[[ToolRound], list[dict[str, Any]]], empty_turns: bool = True
) -> list[dict[str, Any]]:
    """History (with its tool calls, in a provider's `encode_round` format, when tools are on), the question,
    then this answer's rounds so far; `empty_turns=False` leaves out assistant turns without text."""
    out: list[dict[str, Any]] = []
    for entry in request.history:
        if request.tools and entry["role"] == "assistant":
            for past in rounds_of(entry.get("tool_calls") or []):
                out.extend(encode_round(past))
        if empty_turns or entry["content"] or entry["role"] == "user":
            out.append({"role": entry["role"], "content": entry["content"]})
    out.append({"role": "user", "content": request.content})
    for current in request.tool_rounds:
        out.extend(encode_round(current))
    return out
