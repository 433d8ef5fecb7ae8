"""A worker process killed while a tool call runs: the worker taking the job over ends the message
`interrupted` and never calls the webhook again.

Real `streamrelay worker` processes on real Redis and PostgreSQL, an in-process gateway, the fake model and
webhook on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from schema.credentials import generate_key
from schema.store import WORKER_LOST

from ..faults.processes import ProcessSystem
from ..services import RedisServer
from ..system import Backend
from .fakes import Delivery, FakeModel, Webhook
from .test_tools_end_to_end import SLOW, give_tools


@contextlib.asynccontextmanager
async def tool_workers(
    redis_server: RedisServer, postgres_url: str, model: FakeModel, webhook: Webhook, tmp_path: Path, **env: str
) -> AsyncIterator[ProcessSystem]:
    """A gateway and one worker process on the fake model, the webhook's host allowed; silent jobs are taken
    over after 2 s."""
    redis_server.flush()
    allowed, key = webhook.url.removeprefix("http://").split("/")[0], generate_key()
    env = {
        "UPSTREAM_PROVIDER": "openai", "UPSTREAM_MODEL": "test-model", "UPSTREAM_API_KEY": "operator-key",
        "CREDENTIALS_KEY": key, "TENANT_ALLOWED_HOSTS": allowed, "JOB_CLAIM_IDLE_SECONDS": "2", **env,
    }  # fmt: skip
    system = ProcessSystem(Backend("redis-postgres", redis_server.url, postgres_url), model.url, tmp_path, **env)
    system.settings = system.settings.with_(credentials_key=key, tenant_allowed_hosts=allowed)
    async with system:
        yield system


async def calling_a_slow_tool(system: ProcessSystem, webhook: Webhook) -> tuple[str, Any, Any, Delivery]:
    """A session whose answer is calling the tool that never answers, watched by a tab: (its topic, the tab,
    the post's response, the webhook's delivery)."""
    session_id = await system.new_session()
    await give_tools(system, webhook, SLOW)
    topic = f"ai_session:{session_id}"
    tab = await system.client()
    await tab.join(topic)
    posted = await system.post_message(session_id, "Take your time")
    return topic, tab, posted, await webhook.delivery("slow")


async def test_a_takeover_mid_tool_call_ends_interrupted_without_calling_the_webhook_again(
    redis_server: RedisServer, postgres_url: str, model: FakeModel, webhook: Webhook, tmp_path: Path
) -> None:
    async with tool_workers(redis_server, postgres_url, model, webhook, tmp_path) as system:
        doomed = system.processes[0]
        topic, tab, posted, delivery = await calling_a_slow_tool(system, webhook)
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


async def test_a_worker_frozen_in_a_tool_call_past_the_takeover_publishes_nothing_more_and_asks_the_model_no_more(
    redis_server: RedisServer, postgres_url: str, model: FakeModel, webhook: Webhook, tmp_path: Path
) -> None:
    async with tool_workers(redis_server, postgres_url, model, webhook, tmp_path, TOOL_TIMEOUT_SECONDS="4") as system:
        frozen = system.processes[0]
        topic, tab, posted, delivery = await calling_a_slow_tool(system, webhook)
        await system.start_worker()
        frozen.signal(signal.SIGSTOP)
        try:
            events = await tab.events_until(topic, within=30)
        finally:
            frozen.signal(signal.SIGCONT)
        await asyncio.wait_for(delivery.hung_up.wait(), 15)  # its tool call timed out after the thaw
        await frozen.until_logged("publishing no more of it", within=10)

        await asyncio.sleep(0.5)
        assert tab.queue(topic).empty(), "nothing may follow the takeover's new_message"
        final = events[-1][1]["message"]
        assert (final["id"], final["status"], final["error"]) == (
            posted.json()["response_message_id"], "interrupted", WORKER_LOST,
        )  # fmt: skip
        assert [p["status"] for e, p in events if e == "streaming_tool"] == ["started"]
        assert len(model.requests) == 1, "a fenced worker asks the model nothing more"
        seqs = [p["seq"] for _, p in events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        late = await system.client()
        joined = await late.join(topic)
        assert joined["response"]["messages"][-1] == final
        assert joined["response"]["streaming"] is None
