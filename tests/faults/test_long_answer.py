"""A 4 MB answer streams whole, and its last chunks cost Redis no more than its first.

Redis's own accounting (`INFO commandstats`: calls and microseconds of EVALSHA, the
publish script) is read while the upstream waits at gates, so each window holds exactly
the publishes of its thousand chunks; no clock of ours is involved.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping

import pytest
import pytest_asyncio
import redis.asyncio as redis

from ..services import RedisServer
from ..system import Backend
from .conftest import FaultySystem
from .upstreams import STREAM_HEAD, Script, ScriptedUpstream, chunked, complete, text_delta

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG = "Write me four megabytes."
CHUNK = "x" * 999 + " "
CHUNKS = 4000
WINDOW = 500  # the first and last 500 chunks: 0.25 MB of answer against 3.75 MB on average
GATES = (0, WINDOW, CHUNKS - WINDOW, CHUNKS)  # the upstream waits after this many chunks


class Gates:
    """Where the upstream pauses until the test opens the gate."""

    def __init__(self) -> None:
        self.open = {after: asyncio.Event() for after in GATES}


@pytest.fixture(scope="module")
def gates() -> Gates:
    return Gates()


@pytest.fixture(scope="module")
def scripts(gates: Gates) -> Mapping[str, Script]:
    async def long_answer(writer: asyncio.StreamWriter) -> None:
        writer.write(STREAM_HEAD)
        for sent in range(CHUNKS + 1):
            if sent in gates.open:
                await writer.drain()
                await gates.open[sent].wait()
            if sent < CHUNKS:
                writer.write(chunked(text_delta(CHUNK)))
        writer.write(chunked(complete(CHUNK * CHUNKS)) + b"0\r\n\r\n")
        await writer.drain()

    return {LONG: long_answer}


@pytest_asyncio.fixture(loop_scope="module")
async def system(private_redis: RedisServer, postgres: str, upstream: ScriptedUpstream) -> AsyncIterator[FaultySystem]:
    async with FaultySystem(Backend("redis-postgres", private_redis.url, postgres), upstream.url) as running:
        yield running


async def publish_cost(server: RedisServer) -> tuple[int, int]:
    """(calls, microseconds) Redis has spent in the publish script so far."""
    client = redis.Redis.from_url(server.url)
    try:
        stats = (await client.info("commandstats"))["cmdstat_evalsha"]
    finally:
        await client.aclose()
    return int(stats["calls"]), int(stats["usec"])


async def test_a_4_mb_answer_streams_whole_at_a_flat_redis_cost_per_chunk(
    system: FaultySystem, private_redis: RedisServer, gates: Gates
) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tab = await system.client(max_size=None)
    assert (await tab.join(topic))["status"] == "ok"
    posted = await system.post_message(session_id, LONG)
    assert posted.status_code == 202, posted.text
    assert [(await tab.next_event(topic))[0] for _ in range(2)] == ["user_message", "message_processing"]

    marks, received = [], 0
    for after in GATES:
        while received < after:
            event, payload = await tab.next_event(topic)
            assert event == "streaming_chunk", (event, payload)
            assert payload["content"] == CHUNK
            received += 1
        marks.append(await publish_cost(private_redis))
        if after < CHUNKS:
            gates.open[after].set()
    (calls0, usec0), (calls1, usec1), (calls2, usec2), (calls3, usec3) = marks
    # one publish script call per chunk (and now and then another script's, e.g. presence upkeep)
    assert calls1 - calls0 >= WINDOW and calls3 - calls2 >= WINDOW
    first, last = (usec1 - usec0) / (calls1 - calls0), (usec3 - usec2) / (calls3 - calls2)
    # A script whose cost grows with the answer spends ~15× as much in the last window as in the first (the
    # one this replaced: 24.5× in the bench); a flat one ~1×, and up to ~2× when the machine is busy (parallel
    # tests share Redis's cores). 4× tells the two apart with room on both sides.
    assert last <= 4 * first, f"Redis spent {last:.0f} µs per publish at 4 MB, {first:.0f} µs at the start"

    late_tab = await system.client(max_size=None)
    late = await late_tab.join(topic)
    assert late["status"] == "ok"
    assert late["response"]["streaming"]["content"] == CHUNK * CHUNKS, "the snapshot holds the whole answer so far"

    gates.open[CHUNKS].set()
    event, final = await tab.next_event(topic, within=30)
    assert event == "new_message"
    assert (final["message"]["status"], len(final["message"]["content"])) == ("success", len(CHUNK) * CHUNKS)
