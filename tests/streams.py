"""What a tab makes of the events it was pushed: the checks every resume test shares."""

from __future__ import annotations

from typing import Any

Event = tuple[str, dict[str, Any]]


def replay(reply: dict[str, Any], events: list[Event], start_content: str | None = None) -> str:
    """The in-flight message's content as the tab would show it, after `events`."""
    content = start_content
    if content is None:
        content = (reply.get("streaming") or {}).get("content", "")
    for event, payload in events:
        if event == "message_processing":
            content = ""
        elif event == "streaming_chunk":
            content += payload["content"]
    return content


def assert_contiguous(first_seq: int, events: list[Event]) -> None:
    """Every event once, in order: seq runs first_seq, first_seq + 1, …"""
    seqs = [payload["seq"] for _, payload in events]
    assert seqs == list(range(first_seq, first_seq + len(seqs))), seqs


def final_message(events: list[Event]) -> dict[str, Any]:
    assert events[-1][0] == "new_message", events[-1]
    return events[-1][1]["message"]
