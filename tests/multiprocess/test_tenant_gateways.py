"""Tenant flags and usage limits hold across gateway processes sharing one Redis and one PostgreSQL."""

from __future__ import annotations

import asyncio
import time

import httpx

from ..phoenix import PhoenixClient
from .processes import Deployment, auth, new_session, post_message, token

CACHE_SECONDS = 5.0  # relay.settings_cache.MAX_AGE_SECONDS: seeing a change sooner proves the invalidation


async def put_settings(url: str, patch: dict) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        response = await http.put("/api/tenant/settings", json=patch, headers=auth(role="admin"))
        assert response.status_code == 200, response.text


async def joined(url: str, session_id: str) -> str:
    tab = await PhoenixClient.connect(url, token())
    try:
        return (await tab.join(f"ai_session:{session_id}"))["status"]
    finally:
        await tab.close()


async def until(check, expected: str, changed_at: float) -> None:
    """`check()` returns `expected` before the cache could have expired by itself."""
    while (result := await check()) != expected:
        assert time.monotonic() - changed_at < CACHE_SECONDS - 1, f"still {result!r}: the change was not announced"
        await asyncio.sleep(0.02)


async def test_a_flag_changed_on_one_gateway_applies_on_the_other_at_once(deployment: Deployment) -> None:
    (first, _), (second, _) = await deployment.gateway(), await deployment.gateway()
    session_id = await new_session(first)
    assert await joined(second, session_id) == "ok"  # the second gateway now holds the flag, on

    await put_settings(first, {"experimental_features": {"ai_assistant": False}})
    await until(lambda: joined(second, session_id), "error", time.monotonic())

    await put_settings(first, {"experimental_features": {"ai_assistant": True}})
    await until(lambda: joined(second, session_id), "ok", time.monotonic())


async def test_two_gateways_at_the_usage_limit_start_nothing_more(deployment: Deployment) -> None:
    urls = [(await deployment.gateway())[0] for _ in range(2)]
    await deployment.worker()
    sessions = [await new_session(urls[0]) for _ in range(6)]
    await put_settings(urls[0], {"usage_limit": {"monthly_tokens": 1}})
    async with httpx.AsyncClient(base_url=urls[0], timeout=60) as http:
        url = f"/api/sessions/{sessions[0]}/messages?wait=true"
        first = await http.post(url, json={"content": "hi"}, headers=auth())
    assert first.json()["message"]["status"] == "success"  # started below the limit, finished past it

    answers = await asyncio.gather(
        *(post_message(urls[i % 2], session_id, "one more") for i, session_id in enumerate(sessions[1:]))
    )
    assert [answer.status_code for answer in answers] == [429] * 5
    assert {answer.json()["code"] for answer in answers} == {"usage_limit"}
