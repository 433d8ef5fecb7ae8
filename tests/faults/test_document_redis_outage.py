"""Hosted documents ride out Redis going away and coming back without its data: what was typed on each
gateway meanwhile reaches the tabs of the other and SQL."""

from __future__ import annotations

import asyncio

from ..services import RedisServer
from ..system import Backend, System
from ..yjs_tab import YjsTab

YAML = "jobs:\n  fetch:\n    adaptor: http\n"


async def test_edits_made_while_redis_was_down_reach_the_other_gateway_and_sql_once_it_is_back(
    private_redis: RedisServer, postgres_url: str
) -> None:
    async with System(Backend("documents-redis-down", private_redis.url, postgres_url)) as system:
        await system.start_gateway()
        session_id = await system.new_session(documents="relay", context={"workflow_yaml": YAML})
        # Two tabs on each gateway: the second of each shows that its gateway took the edit while Redis was down.
        tabs = [
            await YjsTab.open(system.gateways[gateway].url, system.token(user), session_id, "workflow_yaml")
            for gateway, user in ((0, "alice"), (0, "carol"), (1, "bob"), (1, "dave"))
        ]
        alice, carol, bob, dave = tabs
        for opened in tabs:
            system.stack.push_async_callback(opened.close)
            await opened.wait_text(YAML)

        private_redis.stop()
        await alice.edit(lambda text: text.insert(0, "# alice, offline\n"))
        await bob.edit(lambda text: text.insert(len(YAML.encode()), "# bob, offline\n"))
        await carol.wait_text("# alice, offline\n" + YAML)
        await dave.wait_text(YAML + "# bob, offline\n")
        private_redis.start()  # no persistence: the update log and every subscription are gone

        expected = "# alice, offline\n" + YAML + "# bob, offline\n"
        for opened in tabs:
            await opened.wait_text(expected, within=30)
        for _ in range(100):  # polled: the folds land within a second or two of the reconnect
            response = await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())
            if response.status_code == 200 and response.json()["session"]["context"]["workflow_yaml"] == expected:
                break
            await asyncio.sleep(0.1)
        assert response.json()["session"]["context"]["workflow_yaml"] == expected
