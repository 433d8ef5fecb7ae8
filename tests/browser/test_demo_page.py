"""The demo page (relay/static/index.html) in a real headless Chromium.

Tabs open the page on one session, as a person would from the URL that
`streamrelay dev` prints; one types a question and clicks Send (real input
events). Every tab must show the stream and end with the same answer as the
one persisted, a tab opened mid-stream included, and exactly one tab applies
the answer's workflow change. Stop, clicked in another tab, ends the answer
as cancelled everywhere.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ..services import PostgresDatabase, RedisServer
from ..system import Backend, System
from .cdp import Browser, Tab, chromium_binary
from .proxy import Proxy

QUESTION = "How do I load records from an HTTP API into PostgreSQL?"

# Installed before the page's own script: remembers every streaming text and
# state line the page showed, so a test can tell it streamed without polling fast.
RECORDER = """
window.__seen = {streaming: [], states: []};
new MutationObserver(() => {
  const streaming = document.querySelector("#messages .msg.streaming");
  if (streaming) window.__seen.streaming.push(streaming.children[1].textContent);
  const state = document.getElementById("state");
  if (state) window.__seen.states.push(state.textContent);
}).observe(document, {subtree: true, childList: true, characterData: true});
"""

BUBBLES = """[...document.querySelectorAll("#messages .msg")].map((el) => ({
  role: el.classList.contains("user") ? "user" : "assistant",
  streaming: el.classList.contains("streaming"),
  meta: el.querySelector(".meta").textContent,
  body: el.children[1].textContent,
  changes: [...el.querySelectorAll(".change")].map((c) => c.textContent),
}))"""

JOINED = "window.__seen.states.some((state) => state.startsWith('joined'))"
STREAMING_TEXT = "document.querySelector('#messages .msg.streaming')?.children[1].textContent.length > 0"


def settled(count: int) -> str:
    """True once the page shows `count` bubbles, none streaming, the last an assistant's."""
    return (
        "(() => { const m = [...document.querySelectorAll('#messages .msg')];"
        f" return m.length === {count} && !m.some((el) => el.classList.contains('streaming'))"
        " && m[m.length - 1].classList.contains('assistant'); })()"
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with Browser(chromium_binary()) as running:
        yield running


async def stored_messages(system: System, session_id: str) -> list[dict[str, Any]]:
    response = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    response.raise_for_status()
    return response.json()["messages"]


def described(changes: dict[str, Any]) -> str:
    """A change as `describe()` in index.html shows it: text fields as they are, others as JSON."""
    return "\n".join(
        f"{key}:\n" + (value if isinstance(value, str) else json.dumps(value, indent=1, ensure_ascii=False))
        for key, value in changes.items()
    )


def expected_bubbles(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the page shows for persisted messages (see `bubble()` in index.html)."""
    return [
        {
            "role": m["role"],
            "streaming": False,
            "meta": m["role"] + (f" · {m['status']}" if m["status"] != "success" else ""),
            "body": m["content"],
            "changes": [
                ("✔ applied " if c["applied"] else "change ") + c["change_id"][:8] + "\n" + described(c["changes"])
                for c in m["changes"]
            ],
        }
        for m in messages
    ]


async def open_page(browser: Browser, system: System, session_id: str, name: str) -> Tab:
    url = f"{system.url}/?session={session_id}&token={system.token()}"
    tab = await browser.open(url, name, init_script=RECORDER)
    await tab.wait_for(JOINED)
    return tab


def assert_healthy(*tabs: Tab) -> None:
    for tab in tabs:
        assert tab.exceptions == [], f"{tab.name}: uncaught exceptions {tab.exceptions}"
        errors = [text for kind, text in tab.console if kind == "error"]
        assert errors == [], f"{tab.name}: console errors {errors}"


async def test_two_tabs_show_one_streamed_answer(backend: Backend, browser: Browser, tmp_path: Path) -> None:
    async with System(backend, chunk_delay=0.05) as system:
        session_id = await system.new_session()
        writer = await open_page(browser, system, session_id, "writer")
        watcher = await open_page(browser, system, session_id, "watcher")

        await writer.type("#content", QUESTION)
        await writer.click("#send")
        await watcher.wait_for(STREAMING_TEXT)
        late = await open_page(browser, system, session_id, "late")  # joins mid-stream, from the snapshot
        tabs = (writer, watcher, late)
        for tab in tabs:
            await tab.wait_for(settled(2), within=15)

        messages = await stored_messages(system, session_id)
        assert [(m["role"], m["status"]) for m in messages] == [("user", "success"), ("assistant", "success")]
        question, answer = messages
        assert question["content"] == QUESTION and answer["content"]
        assert [c["applied"] for c in answer["changes"]] == [True], "one tab claimed the streamed change"
        for tab in tabs:
            assert await tab.evaluate(BUBBLES) == expected_bubbles(messages), tab.name
            assert (await tab.evaluate("document.getElementById('state').textContent")).startswith("live · seq ")
        assert await writer.evaluate("document.getElementById('content').value") == "", "Send clears the composer"
        shown_change = (await writer.evaluate(BUBBLES))[-1]["changes"][0]
        assert "yaml:\nname: Demo workflow\njobs:\n" in shown_change, "the workflow shows as YAML, not escaped JSON"

        for tab in tabs:  # each showed the answer growing, not only the end of it
            shown = await tab.evaluate("window.__seen.streaming")
            partial = [text for text in shown if 0 < len(text) < len(answer["content"])]
            assert partial and all(answer["content"].startswith(text) for text in shown), (tab.name, shown[-3:])
        applying = [text for tab in tabs for kind, text in tab.console if text.startswith("applying change")]
        assert applying == [f"applying change {answer['changes'][0]['change_id']}"], "exactly one tab applies it"
        assert_healthy(*tabs)
        for tab in tabs:
            await tab.screenshot(tmp_path / f"{tab.name}.png")


async def test_stop_in_one_tab_cancels_the_answer_in_every_tab(
    backend: Backend, browser: Browser, tmp_path: Path
) -> None:
    async with System(backend, chunk_delay=0.1) as system:
        session_id = await system.new_session()
        writer = await open_page(browser, system, session_id, "writer")
        stopper = await open_page(browser, system, session_id, "stopper")

        await writer.type("#content", QUESTION)
        await writer.click("#send")
        await stopper.wait_for(STREAMING_TEXT)
        await stopper.click("#stop")
        for tab in (writer, stopper):
            await tab.wait_for(settled(2), within=15)

        messages = await stored_messages(system, session_id)
        answer = messages[-1]
        assert answer["status"] == "cancelled", answer
        for tab in (writer, stopper):
            assert await tab.evaluate(BUBBLES) == expected_bubbles(messages), tab.name
            assert (await tab.evaluate(BUBBLES))[-1]["meta"] == "assistant · cancelled"
        await asyncio.sleep(0.3)  # nothing more arrives after the cancelled answer
        assert await writer.evaluate(BUBBLES) == expected_bubbles(messages)
        assert_healthy(writer, stopper)
        await stopper.screenshot(tmp_path / "stopper.png")


async def test_a_tab_whose_connection_drops_resumes_where_it_was(
    backend: Backend, browser: Browser, tmp_path: Path
) -> None:
    """The page's own reconnect: its WebSocket is cut mid-stream and the gateway is out of
    reach for a while; the page reconnects, rejoins with `since` and shows the whole answer."""
    async with System(backend, chunk_delay=0.05) as system, Proxy(system.url) as proxy:
        session_id = await system.new_session()
        writer = await open_page(browser, system, session_id, "writer")
        url = f"{proxy.url}/?session={session_id}&token={system.token()}"
        cut_off = await browser.open(url, "cut-off", init_script=RECORDER)
        await cut_off.wait_for(JOINED)

        await writer.type("#content", QUESTION)
        await writer.click("#send")
        await cut_off.wait_for(STREAMING_TEXT)
        proxy.open.clear()
        proxy.cut()
        await cut_off.wait_for("document.getElementById('state').textContent.startsWith('disconnected')")
        await asyncio.sleep(0.5)  # chunks go by while the tab cannot reach the gateway
        proxy.open.set()
        for tab in (writer, cut_off):
            await tab.wait_for(settled(2), within=15)

        messages = await stored_messages(system, session_id)
        assert messages[-1]["status"] == "success"
        for tab in (writer, cut_off):
            assert await tab.evaluate(BUBBLES) == expected_bubbles(messages), tab.name
        states = await cut_off.evaluate("window.__seen.states")
        assert any(state.endswith("· recovered") for state in states), states
        assert_healthy(writer, cut_off)
        await cut_off.screenshot(tmp_path / "cut-off.png")


@pytest.fixture
async def own_redis_backend() -> AsyncIterator[tuple[Backend, RedisServer]]:
    """Redis and PostgreSQL of this test's own, so that stopping Redis troubles no other test."""
    redis = RedisServer()
    redis.start()
    database = PostgresDatabase()
    try:
        await database.create()
        yield Backend("redis-postgres", redis.url, database.url), redis
        await database.drop()
    finally:
        redis.stop()


async def test_a_tab_that_reconnects_while_redis_is_down_joins_once_it_is_back(
    own_redis_backend: tuple[Backend, RedisServer], browser: Browser
) -> None:
    """A join refused as `unavailable` is transient: the page must try again, as phoenix.js does."""
    backend, redis = own_redis_backend
    async with System(backend) as system, Proxy(system.url) as proxy:
        session_id = await system.new_session()
        url = f"{proxy.url}/?session={session_id}&token={system.token()}"
        tab = await browser.open(url, "tab", init_script=RECORDER)
        await tab.wait_for(JOINED)

        redis.stop()
        proxy.cut()
        try:
            await tab.wait_for("window.__seen.states.some((state) => state.includes('unavailable'))", within=15)
        finally:
            await asyncio.to_thread(redis.start)
        await tab.wait_for("document.getElementById('state').textContent.startsWith('joined')", within=15)
        await tab.type("#content", QUESTION)
        await tab.click("#send")
        await tab.wait_for(settled(2), within=15)
        assert await tab.evaluate(BUBBLES) == expected_bubbles(await stored_messages(system, session_id))
        assert_healthy(tab)
