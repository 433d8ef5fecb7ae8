"""A Redis Cluster primary fails over to its replica mid-answer: without a restart, the gateway
re-routes its sharded subscription and the worker its publishes; tabs resume with `since` and end
with the whole answer, and later answers reach old and new tabs alike.

The cluster (3 primaries, 3 replicas) is the test's own; `CLUSTER FAILOVER` on the replica of the
session's shard promotes it, as Redis does when a primary fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping

import pytest
import pytest_asyncio

from schema import keys

from ..services import RedisCluster
from ..system import Backend
from .conftest import BRIEF, FaultySystem
from .sessions import WatchedSession
from .test_redis_restart import render_like_phoenix_js
from .upstreams import Script, ScriptedUpstream, counted, counting

pytestmark = pytest.mark.asyncio(loop_scope="module")

LONG = "Talk through a failover."
LONG_CHUNKS = 40


@pytest.fixture(scope="module")
def scripts() -> Mapping[str, Script]:
    return {LONG: counting(every=0.05, chunks=LONG_CHUNKS), BRIEF: counting(every=0.01, chunks=3)}


@pytest.fixture(scope="module")
def replicated_cluster() -> Iterator[RedisCluster]:
    cluster = RedisCluster(masters=3, replicas=1)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def system(
    replicated_cluster: RedisCluster, postgres: str, upstream: ScriptedUpstream
) -> AsyncIterator[FaultySystem]:
    backend = Backend("cluster-postgres", replicated_cluster.url, postgres, cluster=True)
    async with FaultySystem(backend, upstream.url) as running:
        yield running


async def test_a_failover_mid_answer_is_ridden_out_and_later_answers_reach_every_tab(
    system: FaultySystem, replicated_cluster: RedisCluster
) -> None:
    watched = await WatchedSession.open(system)
    early = asyncio.create_task(render_like_phoenix_js(await system.client(), watched.topic))
    message_id = await watched.ask(LONG)
    await watched.until_chunks(3)

    await asyncio.to_thread(replicated_cluster.fail_over, keys.live_key(watched.session_id))

    early_text, final = await early
    assert (final["id"], final["status"], final["error"]) == (message_id, "success", None)
    assert final["content"] == counted(LONG_CHUNKS)
    assert early_text == final["content"], "a tab watching through the failover must end up with all of it"

    # Later answers travel on the new primary: to the tab that rode the failover and to a new one.
    late = await system.client()
    later = asyncio.create_task(render_like_phoenix_js(late, watched.topic))
    again = asyncio.create_task(render_like_phoenix_js(await system.client(), watched.topic))
    await asyncio.sleep(0)
    second = await watched.ask(BRIEF)
    for task in (later, again):
        text, message = await task
        assert (message["id"], message["status"], text) == (second, "success", counted(3))
