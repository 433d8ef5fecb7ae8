"""PostgreSQL goes away for a while: requests get a clear 503 or `unavailable`, sockets stay open,
and an answer the worker already has is persisted once the database is back, never lost.

The test's own PostgreSQL server (initdb, pg_ctl) is stopped as abruptly as a crash and started again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping

import pytest
import pytest_asyncio

from ..services import PostgresCluster, RedisServer
from ..system import Backend
from .conftest import BRIEF, FaultySystem
from .upstreams import STREAM_HEAD, Script, ScriptedUpstream, chunked, counting, sse, stream, text_delta

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLAIM_IDLE_SECONDS = 1.5
DATABASE_DOWN = {
    "status": "error",
    "response": {"reason": "unavailable", "message": "the database is unavailable, try again shortly"},
}
HELD = "Answer, then finish while the database is down."
PROPOSES = "Propose a change."


class Gate:
    """The upstream holds its `complete` event until the test opens this."""

    def __init__(self) -> None:
        self.open = asyncio.Event()


@pytest.fixture(scope="module")
def gate() -> Gate:
    return Gate()


@pytest.fixture(scope="module")
def scripts(gate: Gate) -> Mapping[str, Script]:
    async def held_answer(writer: asyncio.StreamWriter) -> None:
        writer.write(STREAM_HEAD + chunked(text_delta("The whole ")) + chunked(text_delta("answer.")))
        await writer.drain()
        await gate.open.wait()
        complete = {
            "response": "The whole answer.",
            "suggested_code": "fn(state => state)",
            "history": [],
            "usage": {"input_tokens": 11, "output_tokens": 7},
            "meta": {},
        }
        writer.write(chunked(sse("complete", complete)) + b"0\r\n\r\n")
        await writer.drain()

    proposed = {"response": "Here it is.", "response_yaml": "name: proposed\n", "history": [], "usage": {}, "meta": {}}
    proposes = stream(sse("changes", {"yaml": "name: proposed\n"}), sse("complete", proposed))
    return {BRIEF: counting(every=0.01, chunks=3), HELD: held_answer, PROPOSES: proposes}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(
    redis_server: RedisServer, postgres_cluster: PostgresCluster, upstream: ScriptedUpstream
) -> AsyncIterator[FaultySystem]:
    redis_server.flush()
    backend = Backend("redis-postgres", redis_server.url, postgres_cluster.url)
    async with FaultySystem(backend, upstream.url, job_claim_idle_seconds=CLAIM_IDLE_SECONDS) as running:
        yield running


@contextlib.asynccontextmanager
async def database_down(cluster: PostgresCluster) -> AsyncIterator[None]:
    # pg_ctl in a thread: the workers' keep-alives must go on meanwhile, as they would in production
    await asyncio.to_thread(cluster.stop)
    try:
        yield
    finally:
        await asyncio.to_thread(cluster.start)


async def test_with_sql_down_http_requests_get_503_json_and_succeed_once_it_is_back(
    system: FaultySystem, postgres_cluster: PostgresCluster
) -> None:
    session_id = await system.new_session()
    async with database_down(postgres_cluster):
        answers = [
            await system.post_message(session_id, BRIEF),
            await system.http.get("/api/sessions", headers=system.auth()),
            await system.http.post("/api/sessions", json={}, headers=system.auth()),
            await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth()),
        ]
    for response in answers:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json() == {"error": DATABASE_DOWN["response"]["message"], "code": "unavailable"}
    assert (await system.ask(session_id, BRIEF))["status"] == "success"


async def test_with_sql_down_pushes_and_joins_that_need_it_are_refused_unavailable_and_the_socket_stays_open(
    system: FaultySystem, postgres_cluster: PostgresCluster
) -> None:
    joined, other, cached = await system.new_session(), await system.new_session(), await system.new_session()
    renamed = await system.http.patch(f"/api/sessions/{other}", json={"title": "renamed", "revision": 1},
                                      headers=system.auth())  # fmt: skip
    assert renamed.status_code == 200  # `other` changed since its page was cached: a join of it reads SQL
    tab = await system.client()
    assert (await tab.join(f"ai_session:{joined}"))["status"] == "ok"
    async with database_down(postgres_cluster):
        assert await tab.push(f"ai_session:{joined}", "new_message", {"content": BRIEF}) == DATABASE_DOWN
        assert await tab.push(f"ai_session:{joined}", "stop") == DATABASE_DOWN
        assert await tab.join(f"ai_session:{other}") == DATABASE_DOWN
        served = await tab.join(f"ai_session:{cached}")  # its page is current: no SQL needed
        assert served["status"] == "ok" and served["response"]["session"]["id"] == cached
        assert (await tab.heartbeat())["status"] == "ok"
    posted = await tab.push(f"ai_session:{joined}", "new_message", {"content": BRIEF})
    assert posted["status"] == "ok", posted
    events = await tab.events_until(f"ai_session:{joined}")
    assert events[-1][1]["message"]["status"] == "success"
    assert (await tab.join(f"ai_session:{other}"))["status"] == "ok"


async def test_an_answer_finished_while_sql_is_down_is_persisted_whole_once_it_is_back(
    system: FaultySystem, postgres_cluster: PostgresCluster, gate: Gate
) -> None:
    await system.start_worker()  # a second worker, that would take the job over if it went silent
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    tab = await system.client()
    assert (await tab.join(topic))["status"] == "ok"
    posted = await system.post_message(session_id, HELD)
    assert posted.status_code == 202
    while (await tab.next_event(topic))[0] != "streaming_chunk":
        pass
    async with database_down(postgres_cluster):
        gate.open.set()
        # The outage outlasts a takeover's patience twice over.
        await asyncio.sleep(2 * CLAIM_IDLE_SECONDS)
    events = await tab.events_until(topic, within=30)
    assert [event for event, _ in events if event in ("streaming_error", "new_message")] == ["new_message"]
    final = events[-1][1]["message"]
    assert (final["status"], final["content"], final["error"]) == ("success", "The whole answer.", None)
    assert [change["changes"] for change in final["changes"]] == [{"code": "fn(state => state)"}]
    assert final["usage"]["input_tokens"] == 11 and final["usage"]["output_tokens"] == 7
    history = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    assert history.json()["messages"][-1] == final


async def test_a_claim_refused_while_sql_is_down_is_granted_once_to_whoever_claims_after_it_is_back(
    system: FaultySystem, postgres_cluster: PostgresCluster
) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    first, second = await system.client(), await system.client()
    for tab in (first, second):
        assert (await tab.join(topic))["status"] == "ok"
    await system.post_message(session_id, PROPOSES)
    final = (await first.events_until(topic))[-1][1]["message"]
    change = {"change_id": final["changes"][0]["change_id"]}
    async with database_down(postgres_cluster):
        assert await first.push(topic, "claim_changes", change) == DATABASE_DOWN
    assert await first.push(topic, "claim_changes", change) == {"status": "ok", "response": {"granted": True}}
    assert await second.push(topic, "claim_changes", change) == {"status": "ok", "response": {"granted": False}}
