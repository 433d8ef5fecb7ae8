"""A user's stop, over the channel or HTTP, cancels the upstream request at once; the message keeps
what was streamed, is persisted as `cancelled`, and `new_message` ends it without a `streaming_error`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from .conftest import ENDLESS, FaultySystem
from .sessions import WatchedSession
from .upstreams import ScriptedUpstream

pytestmark = pytest.mark.asyncio(loop_scope="module")

Stop = Callable[[WatchedSession], Awaitable[str | None]]


async def stop_over_the_channel(watched: WatchedSession) -> str | None:
    reply = await watched.tab.push(watched.topic, "stop")
    assert reply["status"] == "ok", reply
    return reply["response"]["message_id"]


async def stop_over_http(watched: WatchedSession) -> str | None:
    return await watched.stop_over_http()


@contextlib.asynccontextmanager
async def no_worker_running(system: FaultySystem) -> AsyncIterator[None]:
    """Shut the system's workers down; start a fresh one on the way out."""
    for worker, task in system.workers:
        worker.shutdown()
        await asyncio.wait_for(task, 10)
    try:
        yield
    finally:
        await system.start_worker()


async def assert_cancelled_keeping_what_was_streamed(watched: WatchedSession, message_id: str) -> None:
    seen = await watched.until("new_message")
    final = seen[-1][1]["message"]
    assert (final["id"], final["status"], final["error"]) == (message_id, "cancelled", None)
    assert final["content"] == watched.streamed()
    assert not watched.events("streaming_error")
    assert (await watched.messages())[-1] == final
    assert await watched.stays_quiet(0.2), "nothing may follow new_message"


@pytest.mark.parametrize("stop", [stop_over_the_channel, stop_over_http], ids=["channel_push", "http_post"])
async def test_stop_closes_the_upstream_connection_and_keeps_what_was_streamed(
    faulty: FaultySystem, upstream: ScriptedUpstream, stop: Stop
) -> None:
    watched = await WatchedSession.open(faulty)
    message_id = await watched.ask(ENDLESS)
    call = await upstream.call(message_id)
    await watched.until_chunks(3)
    assert await stop(watched) == message_id
    await asyncio.wait_for(call.hung_up.wait(), 5)
    await assert_cancelled_keeping_what_was_streamed(watched, message_id)
    assert watched.streamed().startswith("chunk 1 chunk 2 chunk 3 ")


async def test_stop_before_a_worker_takes_the_job_cancels_it_without_calling_the_upstream(
    faulty: FaultySystem, upstream: ScriptedUpstream
) -> None:
    watched = await WatchedSession.open(faulty)
    async with no_worker_running(faulty):
        message_id = await watched.ask(ENDLESS)
        assert await stop_over_the_channel(watched) == message_id
    await assert_cancelled_keeping_what_was_streamed(watched, message_id)
    assert [event for event, _ in watched.seen] == ["user_message", "new_message"]
    assert not upstream.calls_for(message_id)
