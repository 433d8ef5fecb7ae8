"""Hostile tenant: the operator's key and the internal network stay out of a tenant's reach.

A tenant admin chooses the AI service URL; a local listener plays the server
they chose and records every byte it is sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from schema.credentials import generate_key
from schema.models import Tenant

from .listener import SECRET_BODY, Listener
from .system import Backend, System

OPERATOR_KEY = "sk-operator-secret-never-leaves"
TENANT_KEY = "sk-tenant-own-key-0123456789"


async def store_settings(system: System, settings: dict[str, Any], tenant: str = "acme") -> None:
    """Write settings straight to SQL, as if saved before the allowed hosts changed: the worker must still refuse."""
    db = system.gateways[0].server.config.app.state.gateway.db
    async with db.begin() as session:
        await session.execute(update(Tenant).where(Tenant.id == tenant).values(settings=settings))


def provider(name: str, url: str, **more: Any) -> dict[str, Any]:
    extra = {"model": "gpt-test"} if name == "openai" else {}
    return {"provider": name, "url": url, **extra, **more}


@pytest.mark.parametrize("name", ["apollo", "openai"])
async def test_the_operator_key_never_reaches_a_url_the_tenant_chose(backend: Backend, name: str) -> None:
    async with Listener() as listener:
        hosts = f"127.0.0.1:{listener.port}"  # even a host the operator allowed explicitly
        async with System(backend, upstream_api_key=OPERATOR_KEY, tenant_allowed_hosts=hosts) as system:
            session_id = await system.new_session()
            await store_settings(system, {
                "experimental_features": {"ai_assistant": True},
                "ai_provider": provider(name, f"http://127.0.0.1:{listener.port}"),
            })  # fmt: skip
            response = await system.http.post(
                f"/api/sessions/{session_id}/messages?wait=true", json={"content": "hi"}, headers=system.auth()
            )
            if response.status_code == 200:
                assert response.json()["message"]["status"] == "error"
            else:
                assert response.json()["code"] == "ai_not_configured"
    assert OPERATOR_KEY.encode() not in listener.received  # neither in a header nor in the body


@pytest.mark.parametrize("name", ["apollo", "openai"])
async def test_a_tenant_url_gets_the_tenant_key_only(backend: Backend, name: str) -> None:
    async with Listener() as listener:
        hosts = f"127.0.0.1:{listener.port}"
        overrides = {"upstream_api_key": OPERATOR_KEY, "tenant_allowed_hosts": hosts, "credentials_key": generate_key()}
        async with System(backend, **overrides) as system:
            session_id = await system.new_session()
            put = await system.http.put(
                "/api/tenant/settings",
                json={"ai_provider": provider(name, f"http://127.0.0.1:{listener.port}", api_key=TENANT_KEY)},
                headers=system.auth("admin", role="admin"),
            )
            assert put.status_code == 200, put.text
            message = await system.ask(session_id, "hi")
            assert message["status"] == "error"
    assert TENANT_KEY.encode() in listener.received
    assert OPERATOR_KEY.encode() not in listener.received


async def test_a_url_outside_the_allowed_hosts_is_never_connected_nor_its_body_shown(backend: Backend) -> None:
    async with Listener() as listener, System(backend, upstream_api_key=OPERATOR_KEY) as system:
        session_id = await system.new_session()
        for url in (f"http://127.0.0.1:{listener.port}/?x=", f"https://localhost:{listener.port}/"):
            await store_settings(system, {
                "experimental_features": {"ai_assistant": True}, "ai_provider": provider("apollo", url),
            })  # fmt: skip
            message = await system.ask(session_id, "what is on your internal network?")
            assert message["status"] == "error"
            assert message["error"].lower() == "the ai service address is not allowed."
            assert SECRET_BODY.decode() not in message["error"]
    assert listener.connections == 0
