"""What every upstream provider yields: a small, typed vocabulary of events.

A provider turns one upstream HTTP stream into these events and raises
`UpstreamError` when the upstream fails; the generation maps them onto relay
events, so providers never touch the broker or the database.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from workers.providers.tool_calls import ToolRound, ToolStep, ToolUse


@dataclass(frozen=True)
class GenerationRequest:
    content: str
    # [{"role": "user"|"assistant", "content": ..., "tool_calls"?: [the message's persisted tool calls]}]
    history: list[dict[str, Any]]
    context: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    api_key: str | None = None
    tenant: str = ""
    user_id: str | None = None
    # Tool calling (providers that support it): the tenant's definitions, this answer's rounds so far,
    # and whether the model must now answer without calling more.
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_rounds: list[ToolRound] = field(default_factory=list)
    tool_choice_none: bool = False


@dataclass(frozen=True)
class Status:
    """Upstream is thinking or working ("Searching documentation…")."""

    text: str


@dataclass(frozen=True)
class Chunk:
    """A text delta of the answer."""

    content: str


@dataclass(frozen=True)
class Changes:
    """Early structured changes: a dict with any of `code`, `yaml`, `code_edits`."""

    changes: dict[str, Any]


@dataclass(frozen=True)
class Complete:
    """The upstream's final answer.

    `changes` lists the structured changes of the final message, each a dict
    like `{"code": ...}` or `{"yaml": ...}` (from `suggested_code`,
    `response_yaml`, ...).
    """

    response: str
    changes: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    """What the upstream reported using so far, for an answer of several requests (tool rounds) that may
    still break off; `Complete.usage` has the total."""

    usage: dict[str, Any]


ProviderEvent = Status | Chunk | Changes | Complete | Usage | ToolUse | ToolStep


class UpstreamError(Exception):
    """The upstream failed; `message` is shown to users as is.

    `status` is the persisted message status: "error" when the upstream
    reported an error or answered an HTTP error, "interrupted" when the stream
    broke off (connection lost, idle timeout, ended without `complete`).
    """

    def __init__(self, message: str, status: Literal["error", "interrupted"] = "error") -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def no_final_answer() -> UpstreamError:
    """The stream ended (cleanly) before the upstream's final answer: the sentence every provider uses."""
    return UpstreamError("The AI service ended the stream without a final answer.", "interrupted")


class Provider(Protocol):
    def stream(self, request: GenerationRequest) -> AsyncIterator[ProviderEvent]:
        """Yield events until `Complete`; raise `UpstreamError` on failure."""
        ...


ProviderFor = Callable[[dict[str, Any]], Provider]  # the provider for a tenant's stored settings
