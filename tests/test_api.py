"""The HTTP API: sessions, history, posting, waiting, SSE, tenant settings, health, metrics."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from .streams import assert_contiguous
from .system import System


async def test_requests_without_a_valid_token_get_401(system: System) -> None:
    assert (await system.http.get("/api/sessions")).status_code == 401
    bad = await system.http.get("/api/sessions", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    assert bad.json()["code"] == "unauthorized"


async def test_sessions_are_created_listed_and_scoped_to_their_tenant(system: System) -> None:
    mine = await system.new_session(user="alice", title="Mine", context={"service": "job_chat"})
    theirs = await system.new_session(user="bob")
    await system.new_session(user="eve", tenant="globex")
    own = (await system.http.get("/api/sessions", headers=system.auth("alice"))).json()["sessions"]
    assert [s["id"] for s in own] == [mine]
    assert own[0]["title"] == "Mine" and own[0]["context"] == {"service": "job_chat"}
    tenant = await system.http.get("/api/sessions?scope=tenant", headers=system.auth("alice"))
    assert {s["id"] for s in tenant.json()["sessions"]} == {mine, theirs}


async def test_another_tenants_session_is_404_everywhere(system: System) -> None:
    session_id = await system.new_session()
    await system.enable_assistant("globex")
    intruder = system.auth("eve", "globex")
    assert (await system.http.get(f"/api/sessions/{session_id}/messages", headers=intruder)).status_code == 404
    posted = await system.http.post(f"/api/sessions/{session_id}/messages", json={"content": "hi"}, headers=intruder)
    assert posted.status_code == 404
    assert (await system.http.delete(f"/api/sessions/{session_id}", headers=intruder)).status_code == 404


async def test_creating_a_session_needs_the_assistant_enabled_for_the_tenant(system: System) -> None:
    created = await system.http.post("/api/sessions", json={}, headers=system.auth(tenant="initech"))
    assert created.status_code == 403
    assert created.json()["code"] == "ai_assistant_disabled"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        (b'{"content": ""}', 400, "bad_request"),
        (b'{"content": 42}', 400, "bad_request"),
        (orjson.dumps({"content": "x" * 100_001}), 413, "too_large"),
        (orjson.dumps({"content": "x" * 2_000_000}), 413, "too_large"),
    ],
)
async def test_bad_message_bodies_get_a_clear_error(system: System, body: bytes, status: int, code: str) -> None:
    session_id = await system.new_session()
    response = await system.http.post(
        f"/api/sessions/{session_id}/messages", content=body, headers=system.auth()
    )
    assert response.status_code == status
    assert response.json()["code"] == code


async def test_a_second_message_while_one_runs_is_409_busy(backend) -> None:
    async with System(backend, chunk_delay=0.05) as system:
        session_id = await system.new_session()
        assert (await system.post_message(session_id, "first")).status_code == 202
        second = await system.post_message(session_id, "second")
        assert second.status_code == 409
        assert second.json()["code"] == "busy"


async def test_wait_true_answers_with_the_final_message(system: System) -> None:
    session_id = await system.new_session()
    message = await system.ask(session_id, "hello")
    assert message["role"] == "assistant" and message["status"] == "success" and message["content"]


def parse_sse(text: str) -> list[tuple[str | None, str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if fields:
            events.append((fields.get("id"), fields["event"], orjson.loads(fields["data"])))
    return events


async def test_posting_with_accept_event_stream_streams_the_generation_back(system: System) -> None:
    session_id = await system.new_session()
    async with system.http.stream(
        "POST", f"/api/sessions/{session_id}/messages", json={"content": "hello"},
        headers={**system.auth(), "Accept": "text/event-stream"},
    ) as response:  # fmt: skip
        assert response.headers["content-type"].startswith("text/event-stream")
        body = (await response.aread()).decode()
    events = parse_sse(body)
    assert events[0][1] == "accepted"
    names = [name for _, name, _ in events]
    assert names[1] == "message_processing" and names[-1] == "new_message"
    chunks = "".join(data["content"] for _, name, data in events if name == "streaming_chunk")
    assert events[-1][2]["message"]["content"] == chunks


async def test_session_events_over_sse_resume_from_last_event_id(system: System) -> None:
    session_id = await system.new_session()
    url = f"/api/sessions/{session_id}/events"
    async with system.http.stream("GET", url, headers=system.auth()) as response:
        lines = response.aiter_lines()
        joined = await next_event(lines)
        assert joined[1] == "joined"
        await system.post_message(session_id, "hello")
        first = [await next_event(lines) for _ in range(5)]
    last_id = first[-1][0]
    assert last_id.split(":")[0] == joined[2]["epoch"]
    async with system.http.stream("GET", url, headers={**system.auth(), "Last-Event-ID": last_id}) as response:
        lines = response.aiter_lines()
        rejoined = await next_event(lines)
        assert rejoined[2]["recovered"] is True
        rest = []
        while not rest or rest[-1][1] != "new_message":
            rest.append(await next_event(lines))
    assert_contiguous(joined[2]["seq"] + 1, [(name, data) for _, name, data in first + rest])


async def next_event(lines) -> tuple[str | None, str, dict]:
    fields: dict[str, str] = {}
    async for line in lines:
        if not line:
            if fields:
                return fields.get("id"), fields["event"], orjson.loads(fields["data"])
            continue
        if not line.startswith(":"):
            key, _, value = line.partition(": ")
            fields[key] = value
    raise AssertionError("the stream ended")


async def test_history_pages_back_with_before(system: System) -> None:
    session_id = await system.new_session()
    for question in ("one", "two"):
        await system.ask(session_id, question)
    history = f"/api/sessions/{session_id}/messages"
    everything = (await system.http.get(history, headers=system.auth())).json()
    assert [m["role"] for m in everything["messages"]] == ["user", "assistant", "user", "assistant"]
    newest = everything["messages"][-1]["id"]
    page = await system.http.get(f"{history}?limit=2&before={newest}", headers=system.auth())
    assert [m["content"] for m in page.json()["messages"]][1] == "two"
    assert (await system.http.get(f"{history}?limit=0", headers=system.auth())).status_code == 400


async def test_deleting_a_session_removes_it_and_its_messages(system: System) -> None:
    session_id = await system.new_session()
    await system.ask(session_id, "x")
    assert (await system.http.delete(f"/api/sessions/{session_id}", headers=system.auth())).status_code == 204
    assert (await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())).status_code == 404


async def test_tenant_settings_are_admin_only_and_api_keys_write_only(system: System) -> None:
    member = await system.http.put("/api/tenant/settings", json={"experimental_features": {"ai_assistant": True}},
                                   headers=system.auth(tenant="hooli"))  # fmt: skip
    assert member.status_code == 403
    admin = system.auth("root", "hooli", "admin")
    updated = await system.http.put(
        "/api/tenant/settings", json={"ai_provider": {"provider": "openai", "api_key": "sk-secret-key-1234"}},
        headers=admin,
    )  # fmt: skip
    assert updated.status_code == 200
    shown = (await system.http.get("/api/tenant/settings", headers=system.auth(tenant="hooli"))).json()
    assert shown["ai_provider"]["provider"] == "openai"
    assert shown["ai_provider"]["api_key_set"] is True and shown["ai_provider"]["api_key_hint"] == "1234"
    assert shown["experimental_features"] == {"ai_assistant": False}
    assert "sk-secret" not in orjson.dumps(shown).decode()


async def test_health_readiness_and_metrics(system: System) -> None:
    assert (await system.http.get("/healthz")).json() == {"status": "ok"}
    ready = await system.http.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "broker": True, "database": True}
    session_id = await system.new_session()
    tab = await system.client()
    await tab.join(f"ai_session:{session_id}")
    await system.ask(session_id, "x")
    metrics = (await system.http.get("/metrics")).text
    for name in ("streamrelay_open_sockets", "streamrelay_joined_topics", "streamrelay_events_in_total",
                 "streamrelay_events_out_total", "streamrelay_slow_socket_closes_total", "streamrelay_jobs_waiting",
                 "streamrelay_jobs_pending"):  # fmt: skip
        assert f"\n{name} " in metrics, name


async def test_the_demo_page_is_served(system: System) -> None:
    page = await system.http.get("/")
    assert page.status_code == 200 and "streamrelay" in page.text


async def test_unknown_routes_are_404(system: System) -> None:
    assert (await system.http.get("/api/nope")).status_code == 404


async def test_a_burst_of_posts_larger_than_the_sql_pool_is_served_when_the_settings_cache_is_cold(
    system: System,
) -> None:
    """Each post's transaction used to check out a second connection to read the tenant's settings: forty at once
    held every pooled connection while waiting for another, until the pool gave up after 30 s (answered 503)."""
    users = [f"user{k}" for k in range(40)]
    sessions = [await system.new_session(user=user) for user in users]
    await system.enable_assistant()  # a settings change: every gateway drops its cached copy
    posted = await asyncio.gather(*(system.post_message(s, "hi", user=u) for s, u in zip(sessions, users, strict=True)))
    assert [response.status_code for response in posted] == [202] * len(users)
