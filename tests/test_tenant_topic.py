"""The `tenant:<id>` topic: the assistant's state pushed live to every tab of the tenant, on every gateway.

Like presence, not a session event: no `seq`, not logged, not replayed; a tab that
joins (again) reads the state from the join reply.
"""

from __future__ import annotations

import asyncio

from .phoenix import PhoenixClient
from .system import System

RUN_ON_CLUSTER = True
OFF = {"experimental_features": {"ai_assistant": False}}
ON = {"experimental_features": {"ai_assistant": True}}


async def set_features(system: System, patch: dict[str, object], tenant: str = "acme") -> None:
    response = await system.http.put("/api/tenant/settings", json=patch, headers=system.auth("root", tenant, "admin"))
    response.raise_for_status()


async def next_state(tab: PhoenixClient, topic: str, within: float = 2) -> dict[str, object]:
    """The next `assistant_state` push, within the 2 s a person notices."""
    event, payload = await tab.next_event(topic, within=within)
    assert event == "assistant_state", (event, payload)
    assert "seq" not in payload, "not a session event"
    return payload["assistant"]


async def test_a_settings_change_reaches_every_tab_of_the_tenant_on_every_gateway_and_no_other_tenant(
    system: System,
) -> None:
    await system.enable_assistant("acme")
    await system.enable_assistant("globex")
    second = await system.start_gateway()
    here = await system.client("alice")
    there = await system.client("bob", url=second.url)
    other = await system.client("eve", tenant="globex")
    for tab, topic in ((here, "tenant:acme"), (there, "tenant:acme"), (other, "tenant:globex")):
        reply = await tab.join(topic)
        assert reply["status"] == "ok", reply
        assert reply["response"]["assistant"]["enabled"] is True

    await set_features(system, OFF)
    for tab in (here, there):
        assert (await next_state(tab, "tenant:acme"))["enabled"] is False
    await set_features(system, ON)
    for tab in (here, there):
        assert (await next_state(tab, "tenant:acme"))["enabled"] is True
    assert other.queue("tenant:globex").empty(), "another tenant hears nothing"

    late = await system.client("carol")
    assert (await late.join("tenant:acme"))["response"]["assistant"] == {"enabled": True, "configured": True}
    await asyncio.sleep(0)
    assert late.queue("tenant:acme").empty(), "nothing is replayed to a tab that joins later"


async def test_a_tab_may_join_only_its_own_tenant_and_pushes_to_the_topic_are_refused(system: System) -> None:
    eve = await system.client("eve", tenant="globex")
    reply = await eve.join("tenant:acme")
    assert reply["status"] == "error" and reply["response"]["reason"] == "unauthorized"
    assert (await eve.join("tenant:")).get("response", {}).get("reason") == "unmatched topic"
    assert (await eve.join("tenant:globex"))["status"] == "ok"
    refused = await eve.push("tenant:globex", "assistant_state", {"assistant": {"enabled": False}})
    assert refused["response"]["reason"] == "unknown_event"
    await set_features(system, OFF, tenant="globex")
    assert (await next_state(eve, "tenant:globex"))["enabled"] is False
