"""While a session's generation runs, another message is refused: 409 over HTTP, `busy` over the channel."""

from __future__ import annotations

import pytest

from .conftest import BRIEF, ENDLESS, FaultySystem
from .sessions import WatchedSession

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_second_message_while_one_runs_is_refused_until_it_ends(faulty: FaultySystem) -> None:
    watched = await WatchedSession.open(faulty)
    running = await watched.ask(ENDLESS)
    await watched.until_chunks(1)

    over_http = await faulty.post_message(watched.session_id, BRIEF)
    assert over_http.status_code == 409
    assert over_http.json()["code"] == "busy"
    over_channel = await watched.tab.push(watched.topic, "new_message", {"content": BRIEF})
    assert over_channel["status"] == "error"
    assert over_channel["response"]["reason"] == "busy"

    assert await watched.stop_over_http() == running
    await watched.until("new_message")
    answer = await watched.ask(BRIEF)
    final = (await watched.until("new_message"))[-1][1]["message"]
    assert (final["id"], final["status"], final["content"]) == (answer, "success", "chunk 1 chunk 2 chunk 3 ")
    assert [m["role"] for m in await watched.messages()] == ["user", "assistant", "user", "assistant"]
