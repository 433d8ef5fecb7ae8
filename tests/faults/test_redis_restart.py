"""A worker rides out a Redis restart: the generation in flight completes in full, tabs that (re)join
afterwards see the whole message so far, and the worker keeps taking jobs and stop requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
import pytest_asyncio

from ..phoenix import PhoenixClient
from ..services import RedisServer
from ..system import Backend
from .conftest import ENDLESS, FaultySystem
from .sessions import WatchedSession
from .upstreams import Script, ScriptedUpstream, counted, counting

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG = "Talk for six seconds."
LONG_CHUNKS = 60
OUTAGE_SECONDS = 1.0


@pytest.fixture(scope="module")
def scripts() -> Mapping[str, Script]:
    return {ENDLESS: counting(every=0.05), LONG: counting(every=0.1, chunks=LONG_CHUNKS)}


@pytest_asyncio.fixture(loop_scope="module")
async def system(
    private_redis: RedisServer, postgres: str, upstream: ScriptedUpstream
) -> AsyncIterator[FaultySystem]:
    async with FaultySystem(Backend("redis-postgres", private_redis.url, postgres), upstream.url) as running:
        yield running


async def render_like_phoenix_js(client: PhoenixClient, topic: str, within: float = 30) -> tuple[str, dict[str, Any]]:
    """Join, and rejoin with `since` after every `phx_error` as phoenix.js does, rendering the answer in
    flight as a client does; returns the text shown when `new_message` arrived, and that message."""
    text, since = "", None
    async with asyncio.timeout(within):
        while True:
            reply = await client.join(topic, {"since": since} if since else {})
            if reply["status"] != "ok":  # the gateway is still reconnecting: phoenix.js retries
                assert reply["response"]["reason"] == "unavailable", reply
                await asyncio.sleep(0.2)
                continue
            joined = reply["response"]
            since = {"epoch": joined["epoch"], "seq": joined["seq"]}
            if not joined["recovered"]:
                text = joined["streaming"]["content"] if joined["streaming"] else ""
            while (pushed := await client.next_event(topic, within))[0] != "phx_error":
                event, payload = pushed
                since["seq"] = payload["seq"]
                if event == "message_processing":
                    text = ""
                elif event == "streaming_chunk":
                    text += payload["content"]
                elif event == "new_message":
                    return text, payload["message"]


async def test_generation_in_flight_rides_out_a_redis_restart_and_every_tab_ends_up_with_all_of_it(
    system: FaultySystem, private_redis: RedisServer
) -> None:
    watched = await WatchedSession.open(system)
    early = asyncio.create_task(render_like_phoenix_js(await system.client(), watched.topic))
    message_id = await watched.ask(LONG)
    await watched.until_chunks(3)

    private_redis.stop()
    await asyncio.sleep(OUTAGE_SECONDS)
    await asyncio.to_thread(private_redis.start)
    late_text, final = await render_like_phoenix_js(await system.client(), watched.topic)

    assert (final["id"], final["status"], final["error"]) == (message_id, "success", None)
    assert final["content"] == counted(LONG_CHUNKS)
    assert late_text == final["content"], "a tab joining after the restart must see the whole message"
    early_text, early_final = await early
    assert early_final == final
    assert early_text == final["content"], "a tab watching through the restart must end up with all of it"
    assert (await watched.messages())[-1] == final


async def test_worker_keeps_taking_jobs_and_stop_requests_after_a_redis_restart(
    system: FaultySystem, private_redis: RedisServer
) -> None:
    private_redis.restart()

    watched = await WatchedSession.open(system)
    message_id = await watched.ask(ENDLESS)
    await watched.until_chunks(3, within=30)
    assert await watched.stop_over_http() == message_id
    final = (await watched.until("new_message"))[-1][1]["message"]
    assert (final["id"], final["status"], final["content"]) == (message_id, "cancelled", watched.streamed())
