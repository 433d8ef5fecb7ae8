"""Whatever the upstream does wrong, the tab sees a `streaming_error` that says what happened, then
`new_message`; the message is persisted with status `error` or `interrupted` and keeps what was streamed.

Each fault is played by a real local HTTP server; the worker reaches it through the gateway's job queue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from .conftest import REFUSED_PORT, FaultySystem
from .sessions import WatchedSession
from .upstreams import (
    Script,
    respond,
    silent,
    sse,
    stream,
    text_delta,
    then_silence,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PARTIAL = (text_delta("Partial "), text_delta("answer"))


@dataclass(frozen=True)
class Fault:
    question: str
    script: Script
    status: str
    error: str
    partial: str = ""


FAULTS = {
    "http_4xx_with_json_body": Fault(
        "401 json",
        respond("401 Unauthorized", "application/json", b'{"code": 401, "message": "Invalid API key"}'),
        "error",
        "The AI service answered HTTP 401 Unauthorized: Invalid API key.",
    ),
    "http_5xx_with_json_body": Fault(
        "500 json",
        respond("500 Internal Server Error", "application/json", b'{"error": {"message": "model overloaded"}}'),
        "error",
        "The AI service answered HTTP 500 Internal Server Error: model overloaded.",
    ),
    "http_5xx_with_html_body": Fault(
        "502 html",
        respond("502 Bad Gateway", "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
        "error",
        "The AI service answered HTTP 502 Bad Gateway with an HTML error page.",
    ),
    "http_5xx_with_empty_body": Fault(
        "503 empty",
        respond("503 Service Unavailable", None, b""),
        "error",
        "The AI service answered HTTP 503 Service Unavailable with an empty body.",
    ),
    "html_page_instead_of_a_stream": Fault(
        "200 html",
        respond("200 OK", "text/html", b"<html>Please log in</html>"),
        "error",
        "The AI service answered with text/html instead of an event stream.",
    ),
    "no_first_byte_before_the_timeout": Fault(
        "silence",
        silent,
        "error",
        "The AI service did not start answering within 1 second.",
    ),
    "gap_between_events_over_the_idle_limit": Fault(
        "idle gap",
        then_silence(*PARTIAL),
        "interrupted",
        "The AI service sent nothing for 1 second, so the stream was abandoned.",
        "Partial answer",
    ),
    "connection_dropped_mid_stream": Fault(
        "dropped",
        stream(*PARTIAL, end=False),
        "interrupted",
        "The connection to the AI service was lost mid-stream.",
        "Partial answer",
    ),
    "error_event": Fault(
        "error event",
        stream(*PARTIAL, sse("error", {"code": 429, "type": "RATE_LIMIT", "message": "Too many requests."})),
        "error",
        "The AI service reported an error: Too many requests (code 429).",
        "Partial answer",
    ),
    "invalid_json_in_an_event": Fault(
        "invalid json",
        stream(*PARTIAL, sse("content_block_delta", "{not json")),
        "error",
        "The AI service sent invalid JSON in a 'content_block_delta' event.",
        "Partial answer",
    ),
    "stream_ending_without_complete": Fault(
        "no complete",
        stream(*PARTIAL, sse("message_stop", {"type": "message_stop"})),
        "interrupted",
        "The AI service ended the stream without a final answer.",
        "Partial answer",
    ),
    "oversized_event": Fault(
        "oversized",
        stream(*PARTIAL, text_delta("x" * 16 * 1024 * 1024)),
        "error",
        "The AI service sent an event larger than 16777216 bytes.",
        "Partial answer",
    ),
}


@pytest.fixture(scope="module")
def scripts() -> Mapping[str, Script]:
    return {fault.question: fault.script for fault in FAULTS.values()}


async def assert_ends_with_error(watched: WatchedSession, message_id: str, status: str, error: str, partial: str):
    """The last two pushes, and the persisted message, say what happened and keep the partial content."""
    seen = await watched.until("new_message")
    (error_event, failed), (_, final) = seen[-2:]
    assert error_event == "streaming_error", seen
    assert failed["error"] == error
    assert failed["partial_content"] == partial == watched.streamed()
    assert final["message"]["id"] == message_id
    assert (final["message"]["status"], final["message"]["error"]) == (status, error)
    assert final["message"]["content"] == partial
    assert len(watched.events("new_message")) == len(watched.events("streaming_error")) == 1
    persisted = (await watched.messages())[-1]
    assert persisted == final["message"]


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
async def test_upstream_fault_ends_with_a_specific_error_and_keeps_the_partial_content(
    faulty: FaultySystem, fault: Fault
) -> None:
    watched = await WatchedSession.open(faulty)
    message_id = await watched.ask(fault.question)
    await assert_ends_with_error(watched, message_id, fault.status, fault.error, fault.partial)


async def test_connection_refused_ends_with_an_error_naming_it(faulty: FaultySystem) -> None:
    admin = faulty.auth("admin", "nowhere", "admin")
    unreachable = {"ai_provider": {"url": f"http://127.0.0.1:{REFUSED_PORT}"}}
    assert (await faulty.http.put("/api/tenant/settings", json=unreachable, headers=admin)).status_code == 200
    watched = await WatchedSession.open(faulty, tenant="nowhere")
    message_id = await watched.ask("anyone there?")
    await assert_ends_with_error(
        watched, message_id, "error", "Could not connect to the AI service: connection refused.", ""
    )
