"""Everyday actions on messages: copy a message or a code block, regenerate the last answer, edit and resend the last
question; every tab shows the result."""

from __future__ import annotations

import pytest

from .tabs import Tab, Tabs
from .test_web_app import JOINED, QUESTION, Systems, link, stored_messages

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLIPBOARD = {"permissions": ["clipboard-read", "clipboard-write"]}


async def open_with_clipboard(tabs: Tabs, url: str, name: str) -> Tab:
    tab = await tabs.open(url, name, **CLIPBOARD)
    await tab.wait_for(JOINED)
    return tab


async def clipboard(tab: Tab) -> str:
    return await tab.page.evaluate("navigator.clipboard.readText()")


async def test_a_message_and_a_code_block_are_copied_as_written(systems: Systems, tabs: Tabs) -> None:
    system = await systems()
    session_id = await system.new_session()
    tab = await open_with_clipboard(tabs, link(system.url, system, session_id), "alice")
    await tab.ask(QUESTION)
    await tab.wait_answer("success")
    stored = (await stored_messages(system, session_id))[-1]["content"]

    answer = tab.page.locator("[data-testid=message][data-role=assistant]").last
    await answer.get_by_test_id("copy-message").click()
    await tab.wait_for("document.querySelector('[data-testid=copy-message][data-state=copied]') !== null")
    assert await clipboard(tab) == stored, "the answer's markdown, as written"
    await answer.get_by_test_id("copy-code").click()
    code = await clipboard(tab)
    assert code.startswith("fn(state => {") and code.rstrip().endswith("});"), code
    assert "```" not in code
    question = tab.page.locator("[data-testid=message][data-role=user]").last
    await question.get_by_test_id("copy-message").click()
    await tab.wait_for(f"navigator.clipboard.readText().then((t) => t === {QUESTION!r})")
    tab.assert_healthy()


async def test_regenerate_replaces_the_last_answer_and_edit_resends_the_last_question_in_every_tab(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems(chunk_delay=0.01)
    session_id = await system.new_session()
    await system.ask(session_id, "First question")
    alice = await open_with_clipboard(tabs, link(system.url, system, session_id, user="alice"), "alice")
    bob = await open_with_clipboard(tabs, link(system.url, system, session_id, user="bob"), "bob")
    await alice.ask(QUESTION)
    for tab in (alice, bob):
        await tab.wait_answer("success", count=2)
    before = await stored_messages(system, session_id)
    regenerate = alice.page.locator("[data-testid=regenerate]:visible")
    assert await regenerate.count() == 1, "only the last answer offers Regenerate"
    last_answer = alice.page.locator("[data-testid=message][data-role=assistant]").last
    assert await last_answer.get_by_test_id("regenerate").is_visible()
    edit = alice.page.locator("[data-testid=edit-message]:visible")
    assert await edit.count() == 1, "only the last question offers Edit"

    await regenerate.click()
    for tab in (alice, bob):
        await tab.wait_for(f"!document.querySelector('[data-id=\"{before[-1]['id']}\"]')")
        await tab.wait_answer("success", count=2)
    after = await stored_messages(system, session_id)
    assert [m["id"] for m in after[:3]] == [m["id"] for m in before[:3]] and after[3]["id"] != before[3]["id"]
    assert (await alice.messages()) == (await bob.messages()), "both tabs show the new answer"

    await bob.page.locator("[data-testid=edit-message]:visible").click()
    await bob.by("edit-input").fill("How do I load records into MySQL instead?")
    await bob.by("edit-input").press("Enter")
    for tab in (alice, bob):
        await tab.wait_for(f"!document.querySelector('[data-id=\"{after[2]['id']}\"]')")
        await tab.wait_answer("success", count=2)
    edited = await stored_messages(system, session_id)
    assert [m["content"] for m in edited if m["role"] == "user"] == [
        "First question",
        "How do I load records into MySQL instead?",
    ]
    shown = await alice.messages()
    assert [m["text"] for m in shown if m["role"] == "user"] == [m["content"] for m in edited if m["role"] == "user"]
    assert shown == await bob.messages()
    assert await bob.page.evaluate("document.activeElement?.dataset.testid") == "composer"
    for tab in (alice, bob):
        tab.assert_healthy()
