"""The assistant's change to a hosted document is applied once even when its worker dies mid-answer and
another takes the generation over. Real worker processes, Redis and PostgreSQL, an in-process gateway."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
import pytest_asyncio

from ..services import RedisServer
from ..system import Backend
from ..yjs_tab import YjsTab
from .processes import ProcessSystem
from .sessions import WatchedSession
from .upstreams import STREAM_HEAD, Script, ScriptedUpstream, chunked, sse, text_delta

pytestmark = pytest.mark.asyncio(loop_scope="module")

CHANGE_THEN_ON = "Propose a workflow and keep talking."
BEFORE = "name: Old workflow\njobs:\n  fetch:\n    adaptor: http\n"
PROPOSED = "name: New workflow\njobs:\n  fetch:\n    adaptor: http\n  load:\n    adaptor: postgresql\n"


async def change_then_talk(writer: asyncio.StreamWriter) -> None:
    writer.write(STREAM_HEAD + chunked(sse("changes", {"yaml": PROPOSED})))
    sent = 0
    while True:
        sent += 1
        writer.write(chunked(text_delta(f"chunk {sent} ")))
        await writer.drain()
        await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def scripts() -> Mapping[str, Script]:
    return {CHANGE_THEN_ON: change_then_talk}


@pytest_asyncio.fixture(loop_scope="module")
async def claiming(
    redis_server: RedisServer, postgres: str, upstream: ScriptedUpstream, tmp_path: Path
) -> AsyncIterator[ProcessSystem]:
    redis_server.flush()
    backend = Backend("redis-postgres", redis_server.url, postgres)
    async with ProcessSystem(backend, upstream.url, tmp_path, JOB_CLAIM_IDLE_SECONDS="2") as system:
        yield system


async def test_a_change_applied_before_its_worker_died_is_not_applied_again_by_the_takeover(
    claiming: ProcessSystem,
) -> None:
    system = claiming
    session_id = await system.new_session(documents="relay", context={"workflow_yaml": BEFORE})
    editor = await YjsTab.open(system.url, system.token(), session_id, "workflow_yaml")
    system.stack.push_async_callback(editor.close)
    await editor.wait_text(BEFORE)
    watched = WatchedSession(system, session_id, await system.client())
    assert (await watched.tab.join(watched.topic))["status"] == "ok"
    await watched.ask(CHANGE_THEN_ON)
    await watched.until("changes_applied")
    await editor.wait_text(PROPOSED)
    await watched.until_chunks(3)
    await system.start_worker()
    await system.processes[0].kill()

    await watched.until("new_message", within=30)
    applied = watched.events("changes_applied")
    assert [(a["user_id"]) for a in applied] == [None]
    final = watched.events("new_message")[0]["message"]
    assert final["status"] == "interrupted"
    assert [(c["change_id"], c["applied"]) for c in final["changes"]] == [(applied[0]["change_id"], True)]
    claim = await watched.tab.push(watched.topic, "claim_changes", {"change_id": applied[0]["change_id"]})
    assert claim == {"status": "ok", "response": {"granted": False}}
    assert str(editor.text) == PROPOSED
    response = await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())
    assert response.json()["session"]["context"]["workflow_yaml"] == PROPOSED
