"""The gateway application's operational surface: who may read `/metrics`, how its collector is set."""

from __future__ import annotations

import gc

import httpx
import pytest

from relay.app import create_app
from relay.settings import Settings

from .system import System


def client(tmp_path, address: str, **settings: str) -> httpx.AsyncClient:
    app = create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/m.db", secret="s", **settings))
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway")


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
async def test_metrics_are_served_on_loopback(tmp_path, address: str) -> None:
    async with client(tmp_path, address) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200 and "streamrelay_open_sockets" in response.text


async def test_metrics_are_refused_to_other_addresses_and_to_requests_relayed_by_a_proxy(tmp_path) -> None:
    async with client(tmp_path, "203.0.113.7") as http:
        remote = await http.get("/metrics")
    async with client(tmp_path, "127.0.0.1") as http:
        proxied = await http.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"})
    for response in (remote, proxied):
        assert response.status_code == 403
        assert response.json()["error"] == "Metrics are served only on loopback unless METRICS_TOKEN is set."
        assert "streamrelay_" not in response.text


async def test_with_a_metrics_token_metrics_need_it_from_everywhere(tmp_path) -> None:
    token = "scrape-me-7f3a"
    async with client(tmp_path, "203.0.113.7", metrics_token=token) as http:
        allowed = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer guess"})
    async with client(tmp_path, "127.0.0.1", metrics_token=token) as http:
        local_without = await http.get("/metrics")
    assert allowed.status_code == 200 and "streamrelay_open_sockets" in allowed.text
    assert wrong.status_code == local_without.status_code == 401


async def test_the_gateways_collections_of_young_objects_stay_small_so_each_pauses_for_milliseconds(
    system: System,
) -> None:
    """A collection of the two young generations traverses at most the first's threshold times (the second's
    threshold + 1) objects; at 50,000 × 21 one took ~400 ms in a reconnect storm, and every join and delivery
    in flight waited for it."""
    young, middle_every, _ = gc.get_threshold()
    assert young * (middle_every + 1) <= 30_000
