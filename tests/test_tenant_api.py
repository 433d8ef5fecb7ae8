"""Tenant settings, features, AI configuration states and usage over the HTTP API and the channel."""

from __future__ import annotations

import orjson
import pytest

from schema import keys

from .system import Backend, System

DISABLED = "AI Assistant is not enabled for this tenant"


def admin(system: System, tenant: str = "acme") -> dict[str, str]:
    return system.auth("root", tenant, "admin")


async def settings(system: System, tenant: str = "acme") -> dict:
    response = await system.http.get("/api/tenant/settings", headers=system.auth(tenant=tenant))
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(
    "patch, field",
    [
        ({"experimental_features": {"ai_assistant": "false"}}, "experimental_features.ai_assistant"),
        ({"experimental_features": {"ai_assistant": "0"}}, "experimental_features.ai_assistant"),
        ({"experimental_features": {"ai_assistant": 1}}, "experimental_features.ai_assistant"),
        ({"experimental_features": "yes"}, "experimental_features"),
        ({"ai_provider": "junk"}, "ai_provider"),
        ({"ai_provider": {"url": "http://127.0.0.1:6379/?x="}}, "ai_provider.url"),
        ({"usage_limit": {"monthly_tokens": -5}}, "usage_limit.monthly_tokens"),
        ({"tools": {"max_rounds": 0}}, "tools.max_rounds"),
        ({"surprise": True}, "surprise"),
    ],
)
async def test_an_invalid_setting_is_400_naming_the_field_and_nothing_is_stored(
    system: System, patch: dict, field: str
) -> None:
    before = await settings(system, "hooli")
    response = await system.http.put("/api/tenant/settings", json=patch, headers=admin(system, "hooli"))
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request" and field in response.json()["error"]
    assert await settings(system, "hooli") == before
    assert before["experimental_features"]["ai_assistant"] is False


async def test_the_assistant_is_refused_everywhere_while_its_feature_is_off(system: System) -> None:
    session_id = await system.new_session()
    off = await system.http.put(
        "/api/tenant/settings", json={"experimental_features": {"ai_assistant": False}}, headers=admin(system)
    )
    assert off.status_code == 200
    answers = [
        await system.http.post("/api/sessions", json={}, headers=system.auth()),
        await system.post_message(session_id, "hello"),
        await system.http.get(f"/api/sessions/{session_id}/events", headers=system.auth()),
    ]
    for answer in answers:
        assert answer.status_code == 403
        assert answer.json() == {"error": DISABLED, "code": "ai_assistant_disabled"}
    reply = await (await system.client()).join(keys.topic(session_id))
    assert reply["status"] == "error"
    assert reply["response"] == {"reason": "ai_assistant_disabled", "message": DISABLED}


async def test_features_are_listed_for_every_member(system: System) -> None:
    await system.enable_assistant()
    response = await system.http.get("/api/tenant/features", headers=system.auth())
    assert response.status_code == 200
    (feature,) = response.json()["features"]
    assert feature["key"] == "ai_assistant" and feature["default"] is False and feature["enabled"] is True
    assert feature["name"] == "AI Assistant" and feature["description"]


async def test_secrets_are_write_only_and_the_assistant_state_is_shown(system: System) -> None:
    assert (await settings(system))["assistant"] == {"enabled": False, "configured": True}
    put = await system.http.put(
        "/api/tenant/settings",
        json={"experimental_features": {"ai_assistant": True},
              "ai_provider": {"provider": "openai", "url": "https://api.openai.com/v1", "model": "gpt-4o"}},
        headers=admin(system),
    )  # fmt: skip
    assert put.status_code == 200 and put.json()["assistant"] == {"enabled": True, "configured": False}
    keyed = await system.http.put(
        "/api/tenant/settings", json={"ai_provider": {"api_key": "sk-proj-0123456789abcdef"}}, headers=admin(system)
    )
    shown = await settings(system)
    assert keyed.json() == shown
    assert shown["assistant"] == {"enabled": True, "configured": True}
    assert shown["ai_provider"]["api_key_set"] is True and shown["ai_provider"]["api_key_hint"] == "cdef"
    assert "sk-proj" not in orjson.dumps(shown).decode()
    member = await system.http.put("/api/tenant/settings", json={"usage_limit": {}}, headers=system.auth())
    assert member.status_code == 403


async def test_posting_to_an_unconfigured_assistant_is_409_and_starts_nothing(system: System) -> None:
    session_id = await system.new_session()
    await system.http.put(
        "/api/tenant/settings", json={"ai_provider": {"provider": "anthropic", "url": "https://api.anthropic.com"}},
        headers=admin(system),
    )  # fmt: skip
    response = await system.post_message(session_id, "hello")
    assert response.status_code == 409 and response.json()["code"] == "ai_not_configured"
    messages = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    assert messages.json()["messages"] == []
    reply = await (await system.client()).join(keys.topic(session_id))
    assert reply["response"]["assistant"] == {"enabled": True, "configured": False}


async def test_with_tenant_keys_required_the_operator_key_serves_no_tenant(backend: Backend) -> None:
    operator = {"upstream_provider": "apollo", "upstream_api_key": "sk-operator", "tenant_keys_required": True}
    async with System(backend, **operator) as system:
        session_id = await system.new_session()
        refused = await system.post_message(session_id, "hello")
        assert refused.status_code == 409 and refused.json()["code"] == "ai_not_configured"
        await system.http.put(
            "/api/tenant/settings", json={"ai_provider": {"api_key": "sk-acme-own-0123456789"}}, headers=admin(system)
        )
        assert (await system.ask(session_id, "hello"))["status"] == "success"


async def test_usage_is_recorded_per_generation_and_reported_to_admins(system: System) -> None:
    session_id = await system.new_session()
    message = await system.ask(session_id, "count my tokens")
    assert message["usage"]["input_tokens"] > 0 and message["usage"]["output_tokens"] > 0
    assert "estimated" not in message["usage"]  # the demo upstream reports usage
    report = await system.http.get("/api/tenant/usage", headers=admin(system))
    assert report.status_code == 200
    body = report.json()
    used = message["usage"]["input_tokens"] + message["usage"]["output_tokens"]
    assert body["total_tokens"] == used and body["generations"] == 1
    assert body["by_user"] == [{"user_id": "alice", "input_tokens": message["usage"]["input_tokens"],
                                "output_tokens": message["usage"]["output_tokens"], "generations": 1}]  # fmt: skip
    assert body["limit"]["monthly_tokens"] is None
    assert (await system.http.get("/api/tenant/usage", headers=system.auth())).status_code == 403
    assert (await system.http.get("/api/tenant/usage?month=2026-13", headers=admin(system))).status_code == 400
    old = await system.http.get("/api/tenant/usage?month=2001-01", headers=admin(system))
    assert old.json()["total_tokens"] == 0


async def test_a_stopped_generation_records_an_estimate_flagged_as_such(backend: Backend) -> None:
    async with System(backend, chunk_delay=0.2, chunks=200) as system:
        session_id = await system.new_session()
        tab = await system.client()
        topic = keys.topic(session_id)
        await tab.join(topic)
        await system.post_message(session_id, "stop me")
        await tab.events_until(topic, "streaming_chunk")
        await system.http.post(f"/api/sessions/{session_id}/stop", headers=system.auth())
        final = dict(await tab.events_until(topic))["new_message"]["message"]
    assert final["status"] == "cancelled"
    assert final["usage"]["estimated"] is True and final["usage"]["output_tokens"] > 0


async def test_at_the_monthly_limit_posting_is_429_and_a_running_generation_finishes(backend: Backend) -> None:
    async with System(backend, chunk_delay=0.02) as system:
        first, second = await system.new_session(), await system.new_session()
        limit = {"usage_limit": {"monthly_tokens": 1}}
        assert (await system.http.put("/api/tenant/settings", json=limit, headers=admin(system))).status_code == 200
        running = await system.ask(first, "this one crosses the limit and still finishes")
        assert running["status"] == "success"
        refused = await system.post_message(second, "one more")
        assert refused.status_code == 429
        assert refused.json()["code"] == "usage_limit" and refused.json()["resets_at"]
        tab = await system.client()
        await tab.join(keys.topic(second))
        pushed = await tab.push(keys.topic(second), "new_message", {"content": "over the channel"})
        assert pushed["status"] == "error" and pushed["response"]["reason"] == "usage_limit"
        assert pushed["response"]["resets_at"] == refused.json()["resets_at"]
        report = (await system.http.get("/api/tenant/usage", headers=admin(system))).json()
        assert report["limit"]["remaining"] == 0 and report["limit"]["resets_at"] == refused.json()["resets_at"]
        raised = await system.http.put(
            "/api/tenant/settings", json={"usage_limit": {"monthly_tokens": None}}, headers=admin(system)
        )
        assert raised.status_code == 200
        assert (await system.post_message(second, "now it may")).status_code == 202


async def test_a_settings_change_is_stored_while_the_broker_is_down(private_redis, postgres_url) -> None:
    async with System(Backend("redis-postgres", private_redis.url, postgres_url)) as system:
        private_redis.stop()
        try:
            limit = {"usage_limit": {"monthly_tokens": 5}}
            put = await system.http.put("/api/tenant/settings", json=limit, headers=admin(system))
            assert put.status_code == 200
            assert (await settings(system))["usage_limit"] == {"monthly_tokens": 5}
        finally:
            private_redis.start()
