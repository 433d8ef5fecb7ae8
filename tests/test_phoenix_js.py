"""The official Phoenix JavaScript client (npm `phoenix`), unchanged, against a whole system.

`tests/js/client.mjs` joins, sends a message, follows the stream and claims the
change it saw; these tests run it under node and check what it printed. Two of
them put a small TCP proxy between the client and the gateway and disturb the
connection mid-stream, so that phoenix.js's own machinery must bring the tab
back: its reconnect and rejoin after the connection drops, and its heartbeat
timeout when the connection goes silent. The rejoin must resume with `since`
and the client must end with the whole answer, without a gap or a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from .browser.proxy import Proxy
from .node import node_for
from .system import Backend, System

JS = Path(__file__).parent / "js"
QUESTION = "How do I sync records from an HTTP API into PostgreSQL?"
# One generation of the demo upstream, as event names: statuses, the workflow change, the text.
GENERATION = re.compile(
    r"user_message message_processing (streaming_status )+streaming_changes (streaming_chunk )+new_message"
)


@pytest.fixture(scope="session")
def node() -> str:
    """The node binary, with tests/js installed."""
    return node_for(JS)


async def run_client(
    node: str,
    url: str,
    token: str,
    session_id: str,
    on_line: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Run client.mjs to its result line; `on_line` sees every line as it is printed."""
    config = {"url": url, "token": token, "session": session_id, "content": QUESTION, "timeoutMs": 15000, **options}
    process = await asyncio.create_subprocess_exec(
        node, "client.mjs", json.dumps(config), cwd=JS,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    result = None
    try:
        async with asyncio.timeout(20):
            async for raw in process.stdout:
                line = json.loads(raw)
                if on_line is not None:
                    on_line(line)
                if line["kind"] == "result":
                    result = line
            await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    stderr = (await process.stderr.read()).decode()
    assert result is not None, f"client.mjs printed no result (exit {process.returncode}): {stderr}"
    assert result["ok"], f"client.mjs failed: {result.get('error')}; stderr: {stderr}; events: {result['events']}"
    assert process.returncode == 0, stderr
    return result


async def persisted(system: System, session_id: str, message_id: str) -> dict[str, Any]:
    response = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    response.raise_for_status()
    return next(m for m in response.json()["messages"] if m["id"] == message_id)


def check_stream(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One whole generation: in order, seq contiguous from the first join, content complete."""
    joins = [j for j in result["joins"] if j["status"] == "ok"]
    assert joins, result["joins"]
    assert joins[0]["params"] == {}, "the first join has no position to resume from"
    events = result["events"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(joins[0]["seq"] + 1, joins[0]["seq"] + 1 + len(events))), seqs
    names = " ".join(e["event"] for e in events)
    assert GENERATION.fullmatch(names), names
    message = result["message"]
    assert message["status"] == "success", message
    assert message["role"] == "assistant"
    assert {e["message_id"] for e in events[1:]} == {message["id"]}
    assert "".join(e["content"] for e in events if e["event"] == "streaming_chunk") == message["content"]
    assert result["content"] == message["content"]
    assert result["change_id"] == next(e["change_id"] for e in events if e["event"] == "streaming_changes")
    assert result["claim"] == {"status": "ok", "response": {"granted": True}}
    assert [c["change_id"] for c in message["changes"]], "the demo answer carries a workflow change"
    return joins


async def test_phoenix_js_streams_a_response_and_claims_its_change(system: System, node: str) -> None:
    session_id = await system.new_session()
    result = await run_client(node, system.url, system.token(), session_id)

    joins = check_stream(result)
    assert len(joins) == 1 and joins[0]["recovered"] is False and joins[0]["streaming"] is None
    assert result["opens"] == 1
    stored = await persisted(system, session_id, result["message"]["id"])
    assert stored["content"] == result["content"] != ""
    assert stored["status"] == "success"


async def test_phoenix_js_is_refused_with_a_bad_token(system: System, node: str) -> None:
    """A token the gateway refuses at the upgrade: phoenix.js never joins (and keeps retrying)."""
    session_id = await system.new_session()
    config = {"url": system.url, "token": "not-a-jwt", "session": session_id, "content": QUESTION, "timeoutMs": 1500}
    process = await asyncio.create_subprocess_exec(
        node, "client.mjs", json.dumps(config), cwd=JS, stdout=asyncio.subprocess.PIPE
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), 10)
    lines = [json.loads(line) for line in stdout.splitlines()]
    assert process.returncode == 1
    result = lines[-1]
    assert result["kind"] == "result" and result["error"] == "timed out"
    assert result["opens"] == 0 and result["joins"] == [] and result["events"] == []


@pytest.fixture
async def slow_system(backend: Backend) -> AsyncIterator[System]:
    """A system whose answers take about two seconds, so a test can act mid-stream."""
    async with System(backend, chunk_delay=0.05) as running:
        yield running


def chunks_seen(lines: list[dict[str, Any]]) -> int:
    return sum(1 for line in lines if line["kind"] == "event" and line["event"] == "streaming_chunk")


def check_resumed(result: dict[str, Any]) -> dict[str, Any]:
    """The client rejoined once, with `since` at its position, and lost nothing (`check_stream`)."""
    joins = check_stream(result)
    assert len(joins) == 2, json.dumps({k: result[k] for k in ("joins", "logs", "opens", "closes")}, indent=1)
    first, rejoin = joins
    assert rejoin["params"]["since"]["epoch"] == first["epoch"]
    assert rejoin["recovered"] is True, rejoin
    assert rejoin["seq"] == rejoin["params"]["since"]["seq"]
    assert first["seq"] < rejoin["seq"] < result["events"][-1]["seq"], "the rejoin happened mid-stream"
    assert result["opens"] == 2
    return rejoin


async def test_phoenix_js_reconnects_and_resumes_after_the_connection_drops(slow_system: System, node: str) -> None:
    """Cut the TCP connection mid-stream and keep the gateway out of reach for a while:
    phoenix.js reconnects by itself, rejoins with `since`, and the missed chunks are replayed."""
    system = slow_system
    session_id = await system.new_session()
    async with Proxy(system.url) as proxy:
        lines: list[dict[str, Any]] = []
        cut = False

        def on_line(line: dict[str, Any]) -> None:
            nonlocal cut
            lines.append(line)
            if not cut and chunks_seen(lines) >= 5:
                cut = True
                proxy.open.clear()
                proxy.cut()
                asyncio.get_running_loop().call_later(0.5, proxy.open.set)  # ~10 chunks pass meanwhile

        result = await run_client(node, proxy.url, system.token(), session_id, on_line)

    assert cut, "the stream ended before five chunks arrived"
    check_resumed(result)
    assert result["closes"] >= 1
    stored = await persisted(system, session_id, result["message"]["id"])
    assert stored["content"] == result["content"]


async def test_phoenix_js_heartbeat_detects_a_silent_connection(slow_system: System, node: str) -> None:
    """The connection stays open but goes silent: phoenix.js's heartbeat times out, it
    reconnects and rejoins with `since`, and the client still ends with the whole answer."""
    system = slow_system
    session_id = await system.new_session()
    async with Proxy(system.url) as proxy:
        lines: list[dict[str, Any]] = []
        stalled = False

        def on_line(line: dict[str, Any]) -> None:
            nonlocal stalled
            lines.append(line)
            heartbeats = sum(1 for line in lines if line["kind"] == "heartbeat")
            if not stalled and heartbeats >= 2 and chunks_seen(lines) >= 3:
                stalled = True
                proxy.stall()

        result = await run_client(node, proxy.url, system.token(), session_id, on_line, heartbeatIntervalMs=200)

    assert stalled, "the stream ended before two heartbeats were answered"
    check_resumed(result)
    assert any("heartbeat timeout" in log for log in result["logs"]), result["logs"]
    assert result["heartbeats"] >= 3, "heartbeats are answered after the reconnect too"
    stored = await persisted(system, session_id, result["message"]["id"])
    assert stored["content"] == result["content"]
