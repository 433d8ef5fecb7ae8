"""Documents the relay hosts, in the web app (Debian's Chromium, Playwright): people editing them together,
with cursors, and the assistant's change landing once in every editor."""

from __future__ import annotations

import asyncio

import pytest

from relay.demo_upstream import WORKFLOW_YAML

from ..system import System
from .tabs import Tab, Tabs
from .test_web_app import QUESTION, Systems, open_chat, stored_session

pytestmark = pytest.mark.asyncio(loop_scope="module")
BEFORE = "# our workflow\n" + WORKFLOW_YAML.replace("type: cron", "type: webhook")
SYNCED = "document.querySelector('[data-testid=editor-yaml]')?.dataset.synced === 'true'"
# The workflow editor's lines on screen (CodeMirror renders those in view), without the others' carets.
LINES = """[...document.querySelectorAll('[data-testid=editor-yaml] .cm-line')].map((line) => {
  const copy = line.cloneNode(true);
  copy.querySelectorAll('.cm-ySelectionCaret').forEach((caret) => caret.remove());
  return copy.textContent;
})"""


async def shown(tab: Tab) -> str:
    return "\n".join(await tab.page.evaluate(LINES))


async def stored_text_becomes(system: System, session_id: str, text: str) -> None:
    """Polled: the last keystrokes' way into the update log has no event to wait on."""
    for _ in range(100):
        if (await stored_session(system, session_id))["context"]["workflow_yaml"] == text:
            return
        await asyncio.sleep(0.05)
    assert (await stored_session(system, session_id))["context"]["workflow_yaml"] == text


async def two_editors(systems: Systems, tabs: Tabs, **options: float) -> tuple[System, str, Tab, Tab]:
    """Alice and Bob with a session's workflow open (BEFORE), synced."""
    system = await systems(**options)
    session_id = await system.new_session(documents="relay", context={"workflow_yaml": BEFORE})
    alice, bob = [await open_chat(tabs, system, session_id, name) for name in ("alice", "bob")]
    for tab in (alice, bob):
        await tab.wait_for(SYNCED)
    return system, session_id, alice, bob


async def type_at(tab: Tab, line: int, text: str) -> None:
    """Click at the end of a line of the workflow editor and type, key by key, as a person does."""
    await tab.page.locator("[data-testid=editor-yaml] .cm-line").nth(line).click()
    await tab.page.keyboard.press("End")
    await tab.page.keyboard.type(text, delay=15)


async def test_two_people_type_at_once_converge_and_see_each_others_cursor(systems: Systems, tabs: Tabs) -> None:
    system, session_id, alice, bob = await two_editors(systems, tabs)
    for tab in (alice, bob):
        assert (await shown(tab)).startswith("# our workflow\nname: Demo workflow\n")
        assert await tab.page.get_by_role("button", name="Save").count() == 0
    await type_at(alice, 0, " (alice)")
    await type_at(bob, 2, " # bob")
    expected = BEFORE.replace("# our workflow", "# our workflow (alice)", 1).replace("jobs:", "jobs: # bob", 1)
    top = "\n".join(expected.splitlines()[:5])  # the lines on screen (CodeMirror renders what is visible)
    for tab in (alice, bob):
        await tab.wait_for(f"{LINES}.slice(0, 5).join('\\n') === {top!r}")
    # Each sees the other's caret, named.
    await alice.wait_for("[...document.querySelectorAll('.cm-ySelectionInfo')].some((el) => el.textContent === 'bob')")
    await bob.wait_for("[...document.querySelectorAll('.cm-ySelectionInfo')].some((el) => el.textContent === 'alice')")
    await stored_text_becomes(system, session_id, expected)
    assert await alice.page.locator(".doc-notice:not([hidden])").count() == 0  # no "someone else changed" banner
    for tab in (alice, bob):
        tab.assert_healthy()


async def test_the_assistants_change_appears_once_in_both_editors_highlighted(systems: Systems, tabs: Tabs) -> None:
    system, session_id, alice, bob = await two_editors(systems, tabs, chunk_delay=0.03)
    await alice.ask(QUESTION)
    for tab in (alice, bob):
        await tab.wait_for("document.querySelector('[data-testid=editor-yaml]').dataset.applied === '1'")
        await tab.wait_answer("success")
        assert (await shown(tab)).startswith(WORKFLOW_YAML[:200]), tab.name
        assert await tab.page.locator("[data-testid=change][data-applied=true]").count() == 1, tab.name
        tab.assert_healthy()
    assert not [url for tab in (alice, bob) for method, url in tab.requests if method == "PATCH"]
    assert (await stored_session(system, session_id))["context"]["workflow_yaml"] == WORKFLOW_YAML


async def test_undo_takes_back_only_ones_own_edit(systems: Systems, tabs: Tabs) -> None:
    system, session_id, alice, bob = await two_editors(systems, tabs)
    await type_at(alice, 0, " (alice)")
    both = BEFORE.replace("# our workflow", "# our workflow (alice)", 1)
    await bob.wait_for(f"{LINES}[0] === {both.splitlines()[0]!r}")
    await type_at(bob, 2, " # bob")
    both = both.replace("jobs:", "jobs: # bob", 1)
    await alice.wait_for(f"{LINES}.slice(0, 3).join('\\n') === {chr(10).join(both.splitlines()[:3])!r}")
    await alice.page.keyboard.press("Control+z")  # Alice's focus is still in the workflow editor
    undone = both.replace("# our workflow (alice)", "# our workflow", 1)
    for tab in (alice, bob):
        await tab.wait_for(f"{LINES}.slice(0, 3).join('\\n') === {chr(10).join(undone.splitlines()[:3])!r}")
    await stored_text_becomes(system, session_id, undone)
    for tab in (alice, bob):
        tab.assert_healthy()
