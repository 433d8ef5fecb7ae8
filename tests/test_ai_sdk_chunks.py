"""Events → UI message stream chunks: text parts in order, no delta twice, tools, changes, status, the finish."""

from __future__ import annotations

from typing import Any

from relay.ai_sdk_chunks import UIMessage
from schema import events
from schema.events import Envelope


def envelope(event: str, payload: dict[str, Any], seq: int = 1) -> Envelope:
    return Envelope(event=event, seq=seq, epoch="e", message_id="m1", ts=0.0, payload=payload)


def chunk(text: str) -> Envelope:
    return envelope(events.STREAMING_CHUNK, {"content": text})


def tool(status: str, **extra: Any) -> Envelope:
    return envelope(events.STREAMING_TOOL, {"call_id": "c1", "name": "lookup", "arguments": {"q": 1}, "status": status,
                                            **extra})  # fmt: skip


def texts(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["delta"] for c in chunks if c["type"] == "text-delta")


def test_text_between_tool_calls_gets_parts_of_its_own_in_order() -> None:
    message = UIMessage("m1")
    out = [*message.start(), *message.event(chunk("Let me look. ")), *message.event(tool("started"))]
    out += message.event(tool("finished", result_preview="42")) + message.event(chunk("It is 42."))
    assert [c["type"] for c in out] == [
        "start", "text-start", "text-delta", "text-end", "tool-input-available", "tool-output-available",
        "text-start", "text-delta",
    ]  # fmt: skip
    assert out[1]["id"] != out[6]["id"] and out[5]["output"] == "42" and out[4]["input"] == {"q": 1}


def test_a_tool_that_ends_before_this_stream_saw_it_start_gets_its_input_first() -> None:
    out = UIMessage("m1").event(tool("failed", error="The webhook timed out."))
    assert [c["type"] for c in out] == ["tool-input-available", "tool-output-error"]
    assert out[1]["errorText"] == "The webhook timed out."


def test_a_snapshot_then_a_repeated_start_never_sends_text_twice() -> None:
    message = UIMessage("m1")
    first = message.snapshot({"content": "Hello wor", "changes": [{"change_id": "c" * 64, "changes": {"yaml": "a"}}]})
    assert [c["type"] for c in first] == ["data-changes", "text-start", "text-delta"]
    later = message.event(chunk("ld"))
    # history lost: processing again, then one chunk with everything so far, then deltas
    later += message.event(envelope(events.MESSAGE_PROCESSING, {"session_id": "s"}))
    later += message.event(chunk("Hello world, again")) + message.event(chunk("!"))
    assert texts(first + later) == "Hello world, again!"


def test_the_final_message_adds_only_what_was_not_streamed_and_finishes_with_its_status() -> None:
    message = UIMessage("m1")
    out = message.event(chunk("Partial"))
    final = {"content": "Partial answer", "status": "cancelled", "usage": {"output_tokens": 2}, "error": None}
    out += message.event(envelope(events.NEW_MESSAGE, {"message": final}))
    assert texts(out) == "Partial answer"
    assert out[-2]["type"] == "text-end"
    assert out[-1] == {
        "type": "finish", "finishReason": "other",
        "messageMetadata": {"message_id": "m1", "status": "cancelled", "usage": {"output_tokens": 2}, "error": None},
    }  # fmt: skip
    assert message.finished


def test_status_is_a_transient_data_part_and_an_upstream_error_an_error_part() -> None:
    message = UIMessage("m1")
    (status,) = message.event(envelope(events.STREAMING_STATUS, {"text": "Searching…"}))
    assert status == {"type": "data-status", "data": {"text": "Searching…"}, "transient": True}
    (error,) = message.event(envelope(events.STREAMING_ERROR, {"error": "upstream said no", "partial_content": ""}))
    assert error == {"type": "error", "errorText": "upstream said no"}
    assert message.event(envelope(events.USER_MESSAGE, {"message": {}})) == []


def test_the_final_message_brings_the_tool_calls_a_reconnected_stream_did_not_see() -> None:
    message = UIMessage("m1")
    out = message.snapshot({"content": "Found it", "changes": []}) + message.event(tool("started"))
    out += message.event(tool("finished", result_preview="42"))
    calls = [
        {"call_id": "c0", "name": "search", "arguments": {}, "status": "failed", "result_preview": None, "error": "x"},
        {"call_id": "c1", "name": "lookup", "arguments": {"q": 1}, "status": "finished", "result_preview": "42"},
    ]
    final = {"content": "Found it", "status": "success", "usage": {}, "error": None, "tool_calls": calls}
    out = message.event(envelope(events.NEW_MESSAGE, {"message": final}))
    assert [(c["type"], c.get("toolCallId")) for c in out] == [
        ("tool-input-available", "c0"), ("tool-output-error", "c0"), ("finish", None),
    ]
