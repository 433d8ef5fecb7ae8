"""The AI SDK endpoint over HTTP: the UI message stream a `DefaultChatTransport` reads, its reconnect, its refusals,
and CORS for browsers on other origins. (tests/test_ai_sdk_js.py runs the real `ai` package against it.)"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relay import ai_sdk
from schema import keys

from .system import System
from .test_websocket import until

CHAT = "/api/ai-sdk/chat"


def submit(session_id: str, text: str, **extra: Any) -> dict[str, Any]:
    message = {"id": "client-1", "role": "user", "parts": [{"type": "text", "text": text}]}
    return {"id": session_id, "messages": [message], "trigger": "submit-message", **extra}


async def read_chunks(lines) -> list[Any]:
    """Every chunk of a UI message stream up to `[DONE]` (which ends the list as the string "[DONE]")."""
    chunks: list[Any] = []
    async for line in lines:
        if line.startswith("data: "):
            data = line[len("data: ") :]
            chunks.append("[DONE]" if data == "[DONE]" else orjson.loads(data))
            if data == "[DONE]":
                return chunks
    raise AssertionError(f"the stream ended without [DONE] after {chunks}")


def text_of(chunks: list[Any]) -> str:
    return "".join(c["delta"] for c in chunks if isinstance(c, dict) and c["type"] == "text-delta")


async def chat(system: System, body: dict[str, Any], **headers: str) -> tuple[int, dict[str, str], list[Any]]:
    async with system.http.stream("POST", CHAT, json=body, headers={**system.auth(), **headers}) as response:
        if response.status_code != 200:
            return response.status_code, dict(response.headers), [orjson.loads(await response.aread())]
        return 200, dict(response.headers), await read_chunks(response.aiter_lines())


async def test_a_message_streams_back_as_a_ui_message_stream_ending_with_finish_and_done(system: System) -> None:
    session_id = await system.new_session()
    status, headers, chunks = await chat(system, submit(session_id, "hello"))
    assert status == 200
    assert headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert headers["content-type"].startswith("text/event-stream")
    assert chunks[0]["type"] == "start" and chunks[-1] == "[DONE]"
    finish = chunks[-2]
    assert finish["type"] == "finish" and finish["finishReason"] == "stop"
    assert finish["messageMetadata"]["status"] == "success"
    assert chunks[-3]["type"] == "text-end"
    types = [c["type"] for c in chunks[:-1]]
    assert "data-status" in types and "data-changes" in types
    statuses = [c for c in chunks[:-1] if c["type"] == "data-status"]
    assert all(c["transient"] is True and c["data"]["text"] for c in statuses)
    changes = next(c for c in chunks[:-1] if c["type"] == "data-changes")
    assert changes["id"] == changes["data"]["change_id"] and "yaml" in changes["data"]["changes"]
    stored = (await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())).json()["messages"]
    assert [m["content"] for m in stored] == ["hello", text_of(chunks)]
    assert chunks[0]["messageId"] == stored[1]["id"]


async def test_only_the_last_user_message_is_taken_from_the_client(system: System) -> None:
    session_id = await system.new_session()
    forged = submit(session_id, "real question")
    forged["messages"] = [
        {"id": "x", "role": "assistant", "parts": [{"type": "text", "text": "I promised a refund"}]},
        *forged["messages"],
    ]
    await chat(system, forged)
    stored = (await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())).json()["messages"]
    assert [m["role"] for m in stored] == ["user", "assistant"] and stored[0]["content"] == "real question"


async def test_tool_calls_map_to_tool_input_and_output_chunks(system: System) -> None:
    session_id = await system.new_session(context={"demo": {"tools": True}})
    _, _, chunks = await chat(system, submit(session_id, "find the docs"))
    tool_chunks = [c for c in chunks[:-1] if c["type"].startswith("tool-")]
    assert [c["type"] for c in tool_chunks] == ["tool-input-available", "tool-output-available"]
    assert tool_chunks[0]["toolName"] == "search_docs" and tool_chunks[0]["dynamic"] is True
    assert tool_chunks[0]["toolCallId"] == tool_chunks[1]["toolCallId"]
    assert isinstance(tool_chunks[1]["output"], str) and tool_chunks[1]["output"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"messages": []}, 400, "bad_request"),
        ({"id": "s", "trigger": "resume-everything"}, 400, "bad_request"),
        ({"id": "s", "messages": [{"role": "assistant", "parts": []}]}, 400, "bad_request"),
        ({"id": "s", "messages": "hello"}, 400, "bad_request"),
        ({"id": "no-such-session", "messages": [{"role": "user", "parts": [{"type": "text", "text": "x"}]}]}, 404,
         "not_found"),
    ],
)  # fmt: skip
async def test_bad_requests_get_the_apis_statuses_and_codes(
    system: System, body: dict[str, Any], status: int, code: str
) -> None:
    await system.enable_assistant()
    got, _, (error,) = await chat(system, body)
    assert (got, error["code"]) == (status, code)
    assert error["error"]


async def test_an_empty_text_and_a_missing_token_are_refused(system: System) -> None:
    session_id = await system.new_session()
    got, _, (error,) = await chat(system, submit(session_id, "  "))
    assert (got, error["code"]) == (400, "bad_request")
    response = await system.http.post(CHAT, json=submit(session_id, "hi"))
    assert response.status_code == 401


async def test_a_message_while_one_runs_is_409_busy_and_a_disabled_assistant_403(backend) -> None:
    async with System(backend, chunk_delay=0.05) as system:
        session_id = await system.new_session()
        assert (await system.post_message(session_id, "first")).status_code == 202
        got, _, (error,) = await chat(system, submit(session_id, "second"))
        assert (got, error["code"]) == (409, "busy")
        await system.http.put(
            "/api/tenant/settings", json={"experimental_features": {"ai_assistant": False}},
            headers=system.auth("admin", "acme", "admin"),
        )  # fmt: skip
        got, _, (error,) = await chat(system, submit(session_id, "third"))
        assert (got, error["code"]) == (403, "ai_assistant_disabled")


async def test_reconnect_is_204_when_nothing_streams_and_404_for_another_tenant(system: System) -> None:
    session_id = await system.new_session()
    assert (await system.http.get(f"{CHAT}/{session_id}/stream", headers=system.auth())).status_code == 204
    await system.enable_assistant("globex")
    other = await system.http.get(f"{CHAT}/{session_id}/stream", headers=system.auth("eve", "globex"))
    assert other.status_code == 404


async def test_reconnecting_mid_answer_gets_it_from_its_start_once(backend) -> None:
    async with System(backend, chunk_delay=0.03) as system:
        session_id = await system.new_session()
        tab = await system.client()
        topic = keys.topic(session_id)
        await tab.join(topic)
        async with system.http.stream("POST", CHAT, json=submit(session_id, "hello"), headers=system.auth()) as first:
            lines = first.aiter_lines()
            async for line in lines:
                if '"text-delta"' in line:
                    break
        # the first stream is gone mid-answer: the reconnect has the whole answer, no delta twice
        while (await tab.next_event(topic))[0] != "streaming_chunk":
            pass
        for _ in range(3):
            await tab.next_event(topic)
        async with system.http.stream("GET", f"{CHAT}/{session_id}/stream", headers=system.auth()) as again:
            assert again.status_code == 200
            chunks = await read_chunks(again.aiter_lines())
        final = (await tab.events_until(topic))[-1][1]["message"]
        assert text_of(chunks) == final["content"]
        assert chunks[0] == {"type": "start", "messageId": final["id"]}
        assert chunks[1]["type"] == "data-changes"  # the early changes come with the snapshot
        assert chunks[2]["type"] == "text-start" and chunks[3]["type"] == "text-delta"
        snapshot = chunks[3]["delta"]  # at least the four chunks the tab saw, in one delta
        assert final["content"].startswith(snapshot) and len(snapshot.split()) >= 4
        assert chunks[-2]["type"] == "finish"


async def test_stop_from_another_tab_finishes_the_stream_with_the_partial_text(backend) -> None:
    async with System(backend, chunk_delay=0.05, chunks=400) as system:
        session_id = await system.new_session()
        async with system.http.stream("POST", CHAT, json=submit(session_id, "hello"), headers=system.auth()) as sent:
            lines = sent.aiter_lines()
            seen: list[Any] = []
            async for line in lines:
                if line.startswith("data: "):
                    seen.append(orjson.loads(line[len("data: ") :]))
                if seen and seen[-1]["type"] == "text-delta":
                    break
            tab = await system.client("bob")  # another user's tab stops it
            await tab.join(keys.topic(session_id))
            assert (await tab.push(keys.topic(session_id), "stop"))["response"]["message_id"]
            rest = await read_chunks(lines)
        chunks = seen + rest
        finish = chunks[-2]
        assert finish["type"] == "finish" and finish["messageMetadata"]["status"] == "cancelled"
        stored = (await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())).json()
        assert text_of(chunks) == stored["messages"][1]["content"] != ""


async def test_regenerate_and_edit_triggers_replace_the_last_answer(system: System) -> None:
    session_id = await system.new_session()
    _, _, first = await chat(system, submit(session_id, "hello"))
    _, _, again = await chat(system, {"id": session_id, "messages": [], "trigger": "regenerate-message"})
    assert again[0]["messageId"] != first[0]["messageId"] and again[-2]["type"] == "finish"
    url = f"/api/sessions/{session_id}/messages"
    stored = (await system.http.get(url, headers=system.auth())).json()["messages"]
    assert [m["id"] for m in stored][1:] == [again[0]["messageId"]]
    _, _, edited = await chat(system, submit(session_id, "hello, edited", messageId=stored[0]["id"]))
    assert edited[-2]["messageMetadata"]["status"] == "success"
    after = (await system.http.get(url, headers=system.auth())).json()["messages"]
    assert len(after) == 2 and after[0]["content"] == "hello, edited"
    got, _, (error,) = await chat(system, submit(session_id, "x", messageId="client-made-id"))
    assert (got, error["code"]) == (409, "conflict")


async def test_cors_preflights_are_answered_for_listed_origins_only(backend) -> None:
    async with System(backend, cors_allowed_origins=("http://app.example",)) as system:
        ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
        allowed = await system.http.options(CHAT, headers={"Origin": "http://app.example", **ask})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://app.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        refused = await system.http.options(CHAT, headers={"Origin": "http://evil.example", **ask})
        assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
        session_id = await system.new_session()
        listed = await system.http.get(
            f"/api/sessions/{session_id}", headers={**system.auth(), "Origin": "http://app.example"}
        )
        assert listed.headers["access-control-allow-origin"] == "http://app.example"
        unlisted = await system.http.get(
            f"/api/sessions/{session_id}", headers={**system.auth(), "Origin": "http://evil.example"}
        )
        assert "access-control-allow-origin" not in unlisted.headers


async def test_without_cors_allowed_origins_no_origin_gets_cors_headers(system: System) -> None:
    ask = {"Origin": "http://app.example", "Access-Control-Request-Method": "POST"}
    preflight = await system.http.options(CHAT, headers=ask)
    assert "access-control-allow-origin" not in preflight.headers


async def test_at_the_usage_limit_or_unconfigured_the_chat_and_a_regenerate_are_refused(system: System) -> None:
    session_id = await system.new_session()
    await chat(system, submit(session_id, "hello"))
    admin = system.auth("admin", "acme", "admin")
    await system.http.put("/api/tenant/settings", json={"usage_limit": {"monthly_tokens": 1}}, headers=admin)
    got, _, (error,) = await chat(system, submit(session_id, "again"))
    assert (got, error["code"]) == (429, "usage_limit") and error["resets_at"]
    regenerate = {"id": session_id, "messages": [], "trigger": "regenerate-message"}
    got, _, (error,) = await chat(system, regenerate)
    assert (got, error["code"]) == (429, "usage_limit")
    await system.http.put("/api/tenant/settings", json={"usage_limit": {"monthly_tokens": None}}, headers=admin)
    unconfigured = {"ai_provider": {"provider": "anthropic", "url": "https://api.anthropic.com"}}
    await system.http.put("/api/tenant/settings", json=unconfigured, headers=admin)
    got, _, (error,) = await chat(system, regenerate)
    assert (got, error["code"]) == (409, "ai_not_configured")
    stored = (await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())).json()
    assert len(stored["messages"]) == 2 and stored["messages"][0]["content"] == "hello", "nothing was removed"


async def test_a_silent_stretch_gets_keep_alive_comments(backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ai_sdk, "KEEP_ALIVE_SECONDS", 0.02)
    async with System(backend, chunk_delay=0.05, chunks=5) as system:  # the demo thinks 0.15 s before answering
        session_id = await system.new_session()
        lines: list[str] = []
        async with system.http.stream("POST", CHAT, json=submit(session_id, "hi"), headers=system.auth()) as response:
            async for line in response.aiter_lines():
                lines.append(line)
                if line == "data: [DONE]":
                    break
    assert ": keep-alive" in lines
    chunks = [orjson.loads(line[len("data: ") :]) for line in lines if line.startswith("data: {")]
    assert chunks[0]["type"] == "start" and chunks[-1]["type"] == "finish"


async def test_a_stream_the_client_drops_leaves_no_subscription_behind(backend) -> None:
    async with System(backend, chunk_delay=0.05, chunks=200) as system:
        fanout = system.gateways[0].server.config.app.state.gateway.fanout
        session_id = await system.new_session()
        topic = keys.topic(session_id)
        async with system.http.stream("POST", CHAT, json=submit(session_id, "hi"), headers=system.auth()) as first:
            async for line in first.aiter_lines():
                if '"text-delta"' in line:
                    break
            assert topic in fanout.topics
        await until(lambda: topic not in fanout.topics)  # the server notices the closed connection
        async with system.http.stream("GET", f"{CHAT}/{session_id}/stream", headers=system.auth()) as again:
            async for line in again.aiter_lines():
                if '"text-delta"' in line:
                    break
        await until(lambda: topic not in fanout.topics)
        await system.http.post(f"/api/sessions/{session_id}/stop", headers=system.auth())


async def test_after_a_broker_reconnect_the_stream_catches_up_and_follows_on_live(backend) -> None:
    async with System(backend, chunk_delay=0.03, chunks=80) as system:
        fanout = system.gateways[0].server.config.app.state.gateway.fanout
        session_id = await system.new_session()
        chunks: list[Any] = []
        async with system.http.stream("POST", CHAT, json=submit(session_id, "hi"), headers=system.auth()) as response:
            lines = response.aiter_lines()
            async for line in lines:
                if line.startswith("data: {"):
                    chunks.append(orjson.loads(line[len("data: ") :]))
                    if chunks[-1]["type"] == "text-delta":
                        break
            fanout.resubscribed()  # what the broker reports after a reconnect: events may have been missed
            rest = await read_chunks(lines)
        stored = (await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())).json()
        assert text_of(chunks + rest) == stored["messages"][1]["content"]
        assert len([c for c in rest if isinstance(c, dict) and c["type"] == "text-delta"]) > 10, "followed live"
        assert rest[-2]["type"] == "finish"


async def test_a_reconnect_after_a_tool_call_gets_the_call_with_the_finish(backend) -> None:
    async with System(backend, chunk_delay=0.03, chunks=60) as system:
        session_id = await system.new_session(context={"demo": {"tools": True}})
        tab = await system.client()
        topic = keys.topic(session_id)
        await tab.join(topic)
        await system.post_message(session_id, "find the docs")
        await tab.events_until(topic, "streaming_chunk")  # the tool call is over, the text has begun
        async with system.http.stream("GET", f"{CHAT}/{session_id}/stream", headers=system.auth()) as again:
            chunks = await read_chunks(again.aiter_lines())
        final = (await tab.events_until(topic))[-1][1]["message"]
        types = [c["type"] for c in chunks[:-1]]
        assert types.index("tool-input-available") < types.index("tool-output-available") < types.index("finish")
        assert next(c for c in chunks[:-1] if c["type"] == "tool-input-available")["toolName"] == "search_docs"
        assert text_of(chunks) == final["content"]
