"""A worker process killed while a tool call runs: the worker taking the job over ends the message
`interrupted` and never calls the webhook again.

Real `streamrelay worker` processes on real Redis and PostgreSQL, an in-process gateway, the fake model and
webhook on loopback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from schema.credentials import generate_key
from schema.store import WORKER_LOST

from ..faults.processes import ProcessSystem
from ..services import RedisServer
from ..system import Backend
from .fakes import FakeModel, Webhook
from .test_tools_end_to_end import SLOW, give_tools


async def test_a_takeover_mid_tool_call_ends_interrupted_without_calling_the_webhook_again(
    redis_server: RedisServer, postgres_url: str, model: FakeModel, webhook: Webhook, tmp_path: Path
) -> None:
    redis_server.flush()
    allowed, key = webhook.url.removeprefix("http://").split("/")[0], generate_key()
    env = {
        "UPSTREAM_PROVIDER": "openai", "UPSTREAM_MODEL": "test-model", "UPSTREAM_API_KEY": "operator-key",
        "CREDENTIALS_KEY": key, "TENANT_ALLOWED_HOSTS": allowed, "JOB_CLAIM_IDLE_SECONDS": "2",
    }  # fmt: skip
    system = ProcessSystem(Backend("redis-postgres", redis_server.url, postgres_url), model.url, tmp_path, **env)
    system.settings = system.settings.with_(credentials_key=key, tenant_allowed_hosts=allowed)
    async with system:
        doomed = system.processes[0]
        session_id = await system.new_session()
        await give_tools(system, webhook, SLOW)
        topic = f"ai_session:{session_id}"
        tab = await system.client()
        await tab.join(topic)
        posted = await system.post_message(session_id, "Take your time")
        delivery = await webhook.delivery("slow")
        await doomed.kill()
        await asyncio.wait_for(delivery.hung_up.wait(), 10)
        await system.start_worker()

        events = await tab.events_until(topic, within=60)
        assert [p["status"] for e, p in events if e == "streaming_tool"] == ["started"]
        final = events[-1][1]["message"]
        assert (final["id"], final["status"], final["error"]) == (
            posted.json()["response_message_id"], "interrupted", WORKER_LOST,
        )  # fmt: skip
        assert [e for e, _ in events[-2:]] == ["streaming_error", "new_message"]
        assert len(webhook.deliveries) == 1
        assert len(model.requests) == 1
