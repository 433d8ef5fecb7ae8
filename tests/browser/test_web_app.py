"""The web app (clients/web, served at `/`) in Debian's Chromium, driven by Playwright.

Every test opens the page as a person would, from the link `streamrelay dev`
prints (`/?session=<id>&token=<jwt>`), on a whole system (demo upstream,
gateway, worker, Redis, PostgreSQL), and types, clicks and presses keys.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from starlette.applications import Starlette

from relay.demo_script import WORKFLOW_YAML
from relay.server import EmbeddedServer

from ..system import System
from .apollo import apollo_upstream, sse
from .proxy import Proxy
from .tabs import Tab, Tabs

Systems = Callable[..., Awaitable[System]]

pytestmark = pytest.mark.asyncio(loop_scope="module")

QUESTION = "How do I load records from an HTTP API into PostgreSQL?"
# Markup that must never reach the screen as text while an answer streams in.
RAW_MARKUP = ("**", "``", "##", "](")
JOINED = "document.querySelector('[data-testid=chat]')?.dataset.joined === 'true'"


def link(
    base: str,
    system: System,
    session_id: str | None = None,
    user: str = "alice",
    role: str = "member",
    tenant: str = "acme",
) -> str:
    session = f"session={session_id}&" if session_id else ""
    return f"{base}/?{session}token={system.token(user, tenant, role)}"


async def open_chat(tabs: Tabs, system: System, session_id: str, name: str, base: str | None = None) -> Tab:
    tab = await tabs.open(link(base or system.url, system, session_id, user=name), name)
    await tab.wait_for(JOINED)
    return tab


async def stored_session(system: System, session_id: str) -> dict[str, Any]:
    response = await system.http.get(f"/api/sessions/{session_id}", headers=system.auth())
    response.raise_for_status()
    return response.json()["session"]


async def stored_messages(system: System, session_id: str) -> list[dict[str, Any]]:
    response = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    response.raise_for_status()
    return response.json()["messages"]


def squashed(text: str) -> str:
    return re.sub(r"\s+", "", text)


async def test_two_tabs_stream_one_answer_as_markdown_and_a_cut_off_tab_resumes_without_gap(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems(chunk_delay=0.05)
    async with Proxy(system.url) as proxy:
        session_id = await system.new_session()
        writer = await open_chat(tabs, system, session_id, "alice")
        watcher = await open_chat(tabs, system, session_id, "bob", base=proxy.url)
        assert await writer.by("stop").is_disabled(), "Stop is enabled only while an answer streams"

        await writer.ask(QUESTION)
        await watcher.wait_streaming(chars=40)
        for tab in (writer, watcher):
            assert await tab.by("stop").is_enabled(), tab.name
            assert await tab.by("streaming-indicator").count() == 1, f"{tab.name}: a blinking cursor while streaming"
        proxy.open.clear()
        proxy.cut()  # the watcher's connection drops mid-stream, and the gateway is out of reach for a while
        await watcher.wait_for("document.querySelector('[data-testid=connection]').dataset.state === 'down'")
        await writer.wait_streaming(chars=400)  # the answer goes on without the watcher
        proxy.open.set()
        for tab in (writer, watcher):
            await tab.wait_answer("success")

        stored = await stored_messages(system, session_id)
        assert [m["status"] for m in stored] == ["success", "success"]
        shown = {tab.name: await tab.messages() for tab in (writer, watcher)}
        assert shown["alice"] == shown["bob"], "both tabs show the same conversation"
        question, answer = shown["alice"]
        assert (question["role"], question["text"]) == ("user", QUESTION)
        assert question["time"] and answer["time"], "messages carry their time"
        assert "Fetch the source records" in answer["text"] and answer["banner"] is None
        assert squashed(answer["text"]).endswith(squashed("checked a manual run.")), "the whole answer, rendered"
        for tab in (writer, watcher):
            assert await tab.by("streaming-indicator").count() == 0, f"{tab.name}: no cursor once the answer ended"
            assert await tab.by("stop").is_disabled(), tab.name
            assert await tab.page.locator("[data-testid=message-content] pre code.hljs .hljs-keyword").count() > 0, (
                f"{tab.name}: the code block is highlighted"
            )
            seen = await tab.seen()
            growing = [text for text in seen if 0 < len(text) < len(answer["text"])]
            assert len(growing) > 10, f"{tab.name}: showed the answer growing"
            raw = [text for text in seen if any(markup in text for markup in RAW_MARKUP)]
            assert raw == [], f"{tab.name}: raw markup on screen: {raw[:3]}"
            final = squashed(answer["text"])
            broken = [text for text in seen if not final.startswith(squashed(text))]
            assert broken == [], f"{tab.name}: text not beginning the answer (gap or repeat): {broken[:2]}"
        writer.assert_healthy()
        watcher.assert_healthy(expected="WebSocket connection to")  # while the gateway was out of reach


async def test_three_tabs_one_reloading_mid_stream_apply_the_workflow_change_once(systems: Systems, tabs: Tabs) -> None:
    system = await systems(chunk_delay=0.05)
    session_id = await system.new_session()
    before = await stored_session(system, session_id)
    trio = [await open_chat(tabs, system, session_id, name) for name in ("alice", "bob", "carol")]
    await trio[0].ask(QUESTION)
    reloading = trio[2]
    await reloading.wait_streaming(chars=100)
    await reloading.page.reload()  # joins afresh mid-stream: the snapshot, then the rest
    await reloading.wait_for(JOINED)
    for tab in trio:
        await tab.wait_answer("success")
        await tab.wait_for("document.querySelector('[data-testid=documents]').dataset.revision !== undefined")

    after = await stored_session(system, session_id)
    assert after["revision"] == before["revision"] + 1, "the change was written once"
    assert after["context"]["workflow_yaml"] == WORKFLOW_YAML
    patches = [url for tab in trio for method, url in tab.requests if method == "PATCH"]
    assert len(patches) == 1, patches
    for tab in trio:
        revision = "document.querySelector('[data-testid=documents]').dataset.revision"
        await tab.wait_for(f"{revision} === '{after['revision']}'")
        assert (await tab.editor("editor-yaml")).rstrip() == WORKFLOW_YAML.rstrip(), tab.name
        assert await tab.page.locator("[data-testid=change][data-applied=true]").count() == 1, tab.name
        tab.assert_healthy()
    answer = (await stored_messages(system, session_id))[-1]
    assert [change["applied"] for change in answer["changes"]] == [True]


async def test_the_same_change_proposed_again_after_an_edit_is_applied_again_not_shown_as_already_applied(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems(chunk_delay=0)
    session_id = await system.new_session()
    tab = await open_chat(tabs, system, session_id, "alice")
    await tab.ask(QUESTION)
    await tab.wait_answer("success")
    applied = "document.querySelectorAll('[data-testid=change][data-applied=true]').length"
    await tab.wait_for(f"{applied} === 1")
    edited = await stored_session(system, session_id)
    patched = await system.http.patch(
        f"/api/sessions/{session_id}", headers=system.auth(),
        json={"revision": edited["revision"], "context": {**edited["context"], "workflow_yaml": "name: edited\n"}},
    )  # fmt: skip
    assert patched.status_code == 200, patched.text

    await tab.ask(QUESTION)  # the assistant proposes the same workflow again
    await tab.wait_answer("success", count=2)
    await tab.wait_for(f"{applied} === 2")
    after = await stored_session(system, session_id)
    assert after["context"]["workflow_yaml"] == WORKFLOW_YAML, "the proposal was written again"
    assert after["revision"] == patched.json()["session"]["revision"] + 1
    tab.assert_healthy()


async def test_a_burst_of_text_is_revealed_in_many_steps(systems: Systems, tabs: Tabs) -> None:
    """The upstream sends the whole answer at once, in three chunks: the page reveals it in many more steps."""
    system = await systems(chunk_delay=0, chunks=3)
    session_id = await system.new_session()
    tab = await open_chat(tabs, system, session_id, "alice")
    await tab.ask(QUESTION)
    await tab.wait_answer("success")
    final = len((await tab.messages())[-1]["text"])
    steps = sorted({len(text.strip()) for text in await tab.seen() if 0 < len(text.strip()) < final})
    assert len(steps) >= 6, f"three chunks shown in {len(steps)} steps: {steps}"
    frames = sorted({length for length in await tab.frames() if 0 < length})
    assert len(frames) >= 3, f"the answer grew over {len(frames)} animation frames only"
    tab.assert_healthy()


async def test_stop_ends_the_answer_in_every_tab_and_keeps_the_partial_text(systems: Systems, tabs: Tabs) -> None:
    system = await systems(chunk_delay=0.1)
    session_id = await system.new_session()
    writer = await open_chat(tabs, system, session_id, "alice")
    stopper = await open_chat(tabs, system, session_id, "bob")
    await writer.ask(QUESTION)
    await stopper.wait_streaming(chars=60)
    await stopper.ask("And with a cron trigger?")
    await stopper.by("composer-notice").filter(has_text="The assistant is still answering.").wait_for()
    await stopper.by("stop").click()
    for tab in (writer, stopper):
        await tab.wait_answer("cancelled")

    stored = (await stored_messages(system, session_id))[-1]
    assert stored["status"] == "cancelled" and stored["content"]
    assert (await writer.messages()) == (await stopper.messages())
    for tab in (writer, stopper):
        answer = (await tab.messages())[-1]
        assert answer["text"] and "checked a manual run" not in answer["text"], (tab.name, answer["text"])
        assert answer["banner"] == "Stopped. The answer so far is kept above.", tab.name
        assert await tab.by("stop").is_disabled(), tab.name
        assert await tab.by("streaming-indicator").count() == 0, tab.name
        tab.assert_healthy()
    # the composer works again at once
    await writer.ask("And with a cron trigger?")
    await writer.wait_answer("success", count=2)


async def test_presence_counts_people_up_and_down(systems: Systems, tabs: Tabs) -> None:
    system = await systems()
    session_id = await system.new_session()
    alice = await open_chat(tabs, system, session_id, "alice")
    await alice.wait_for("document.querySelector('[data-testid=presence]').dataset.count === '1'")
    bob = await open_chat(tabs, system, session_id, "bob")
    carol = await open_chat(tabs, system, session_id, "carol")
    for tab in (alice, bob, carol):
        await tab.wait_for("document.querySelector('[data-testid=presence]').dataset.count === '3'")
    assert await alice.by("presence").inner_text() == "3 people viewing"
    await tabs.close_tab(carol)
    for tab in (alice, bob):
        await tab.wait_for("document.querySelector('[data-testid=presence]').dataset.count === '2'")
    assert await bob.by("presence").inner_text() == "2 people viewing"
    for tab in (alice, bob):
        tab.assert_healthy()


async def test_turning_the_assistant_off_in_settings_disables_the_composer_and_quick_ask_until_it_is_on_again(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems()
    session_id = await system.new_session()
    admin = await tabs.open(link(system.url, system, session_id, user="admin", role="admin"), "admin")
    await admin.wait_for(JOINED)

    await admin.by("settings").click()
    toggle = admin.by("feature-ai_assistant")
    assert await toggle.is_checked()
    await admin.page.get_by_text("Experimental features may change or be removed without notice.").wait_for()
    await toggle.uncheck()
    await admin.by("save-settings").click()
    await admin.wait_for("document.querySelector('[data-testid=save-note]').textContent === 'Saved.'")
    await admin.by("close-settings").click()
    await admin.by("composer-notice").filter(has_text="The AI assistant is turned off").wait_for()
    assert await admin.by("composer").is_disabled(), "no sending while the assistant is off"
    await admin.page.keyboard.press("Control+ArrowUp")
    assert await admin.by("quick-ask").is_hidden(), "Quick Ask does nothing while the assistant is off"

    await admin.by("settings").click()
    await admin.by("feature-ai_assistant").check()
    await admin.by("save-settings").click()
    await admin.wait_for("document.querySelector('[data-testid=save-note]').textContent === 'Saved.'")
    await admin.by("close-settings").click()
    await admin.by("composer-notice").wait_for(state="hidden")
    assert await admin.by("composer").is_enabled()
    await admin.page.keyboard.press("Control+ArrowUp")
    await admin.by("quick-ask-input").fill(QUESTION)
    await admin.by("quick-ask-input").press("Enter")
    await admin.wait_answer("success")
    assert await admin.by("quick-ask").is_hidden()
    admin.assert_healthy()


async def test_the_session_list_creates_renames_and_deletes_chats(systems: Systems, tabs: Tabs) -> None:
    system = await systems()
    existing = await system.new_session(title="Salesforce sync")
    await system.ask(existing, "How do I sync contacts?")
    tab = await tabs.open(link(system.url, system), "alice")
    item = tab.by("session-item").filter(has_text="Salesforce sync")
    await item.filter(has_text="Assistant: ").wait_for()  # the last message's preview

    await tab.by("new-session").click()
    await tab.wait_for(JOINED)
    created = tab.page.url.split("session=")[1].split("&")[0]
    assert created != existing
    await tab.by("session-item").filter(has_text="New chat").wait_for()
    await tab.ask("Hello?")
    await tab.wait_answer("success")

    row = tab.page.locator(f"[data-testid=session-item][data-id='{created}']")
    await row.hover()
    await row.get_by_test_id("rename-session").click()
    await tab.by("rename-input").fill("Cron questions")
    await tab.by("rename-input").press("Enter")
    await row.filter(has_text="Cron questions").wait_for()
    await tab.by("session-title").filter(has_text="Cron questions").wait_for()
    assert (await stored_session(system, created))["title"] == "Cron questions"

    other = await open_chat(tabs, system, created, "bob")  # someone else has the chat open
    tab.page.once("dialog", lambda dialog: dialog.accept())
    await row.hover()
    await row.get_by_test_id("delete-session").click()
    await row.wait_for(state="detached")
    await tab.page.get_by_text("Pick a chat or start a new one").wait_for()
    assert "session=" not in tab.page.url
    await other.by("session-gone").filter(has_text="This chat was deleted.").wait_for()
    response = await system.http.get(f"/api/sessions/{created}", headers=system.auth())
    assert response.status_code == 404
    tab.assert_healthy()
    other.assert_healthy()


def failing_upstream() -> Starlette:
    """Proposes code edits, runs a tool (Apollo runs its own), streams a little text, then reports an error."""

    async def events() -> AsyncIterator[bytes]:
        yield sse("changes", {"code_edits": [{"old": "state => null", "new": "state => state"}]})
        tool = {"type": "tool_use", "id": "toolu_1", "name": "search_docs", "input": {}}
        yield sse("content_block_start", {"index": 0, "content_block": tool})
        arguments = {"type": "input_json_delta", "partial_json": '{"query": "fn returns state"}'}
        yield sse("content_block_delta", {"index": 0, "delta": arguments})
        yield sse("content_block_stop", {"index": 0})
        found = [{"type": "text", "text": "fn() passes on the state its callback returns"}]
        result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": found}
        yield sse("content_block_start", {"index": 1, "content_block": result})
        yield sse("content_block_stop", {"index": 1})
        for text in ("The job returns ", "**nothing**, so ", "I changed it to return the state"):
            yield sse("content_block_delta", {"delta": {"type": "text_delta", "text": text}})
        yield sse("error", {"code": 502, "type": "OVERLOADED", "message": "The model is overloaded"})

    return apollo_upstream(events)


async def test_a_failed_answer_keeps_its_text_and_tool_steps_and_its_code_edits_are_accepted_once(
    systems: Systems, tabs: Tabs
) -> None:
    async with EmbeddedServer(failing_upstream()) as upstream:
        system = await systems(upstream_url=upstream.url)
        session_id = await system.new_session(context={"job_code": "fn(state => null);\n"})
        alice = await open_chat(tabs, system, session_id, "alice")
        bob = await open_chat(tabs, system, session_id, "bob")
        await alice.ask("Why does my job return nothing?")
        for tab in (alice, bob):
            await tab.wait_answer("error")
            answer = (await tab.messages())[-1]
            assert answer["text"] == "The job returns nothing, so I changed it to return the state", tab.name
            assert answer["banner"] and answer["banner"].endswith("The answer so far is kept above."), answer
            assert await tab.by("code-diff").count() == 1, f"{tab.name}: the edits show as a diff"
        step = tab.by("tool-step")
        assert await step.get_attribute("data-status") == "finished", tab.name
        assert not await step.get_attribute("open"), f"{tab.name}: tool steps start collapsed"
        await step.locator("summary").click()
        assert "search_docs" in await step.inner_text() and "fn returns state" in await step.inner_text()
        assert "passes on the state" in await step.inner_text(), f"{tab.name}: the result preview"

        before = (await stored_session(system, session_id))["revision"]
        await alice.by("accept-edits").click()
        for tab in (alice, bob):
            await tab.wait_for("!document.querySelector('[data-testid=code-diff]')")
            assert (await tab.editor("editor-code")).rstrip() == "fn(state => state);", tab.name
            await tab.page.locator("[data-testid=change]").filter(has_text="accepted").wait_for()
        after = await stored_session(system, session_id)
        assert after["context"]["job_code"] == "fn(state => state);\n"
        assert after["revision"] == before + 1
        for tab in (alice, bob):
            tab.assert_healthy()


async def test_an_unconfigured_provider_and_a_spent_allowance_are_said_in_sentences(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems()
    unconfigured = await system.new_session(tenant="acme")
    provider = {"provider": "openai", "url": "https://api.openai.com/v1", "model": "gpt-4o-mini"}  # but no key
    put = await system.http.put(
        "/api/tenant/settings", json={"ai_provider": provider}, headers=system.auth("admin", "acme", "admin")
    )
    put.raise_for_status()
    tab = await open_chat(tabs, system, unconfigured, "alice")
    await tab.by("composer-notice").filter(has_text="AI not configured").wait_for()
    assert await tab.by("composer").is_disabled()
    await tab.page.keyboard.press("Control+ArrowUp")
    assert await tab.by("quick-ask").is_hidden(), "no Quick Ask while the assistant cannot answer"

    spent = await system.new_session(user="carol", tenant="globex")
    await system.ask(spent, "How do I sync contacts?", user="carol", tenant="globex")
    limit = {"usage_limit": {"monthly_tokens": 1}}
    put = await system.http.put("/api/tenant/settings", json=limit, headers=system.auth("boss", "globex", "admin"))
    put.raise_for_status()
    admin = await tabs.open(link(system.url, system, spent, user="boss", role="admin", tenant="globex"), "boss")
    await admin.wait_for(JOINED)
    await admin.ask("And every hour?")
    await admin.by("composer-notice").filter(has_text="used this month's AI allowance").wait_for()
    assert await admin.by("composer").input_value() == "And every hour?", "the question stays to send later"
    await admin.by("settings").click()
    await admin.by("settings-tab-usage").click()
    await admin.by("usage").filter(has_text="tokens used this month (100%)").wait_for()
    tab.assert_healthy()
    admin.assert_healthy()
