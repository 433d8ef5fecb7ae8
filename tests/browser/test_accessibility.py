"""The web app for people using a keyboard or a screen reader: axe-core's check, announcements, focus and Tab order."""

from __future__ import annotations

import pytest

from .axe import violations
from .tabs import Tab, Tabs
from .test_web_app import JOINED, QUESTION, Systems, link, open_chat, stored_session

pytestmark = pytest.mark.asyncio(loop_scope="module")

FOCUSED = "document.activeElement?.dataset.testid"
LIVE = "document.querySelector('[data-testid=announcer]')"


async def test_axe_finds_no_serious_violation_on_the_chat_the_session_list_and_settings(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems()
    session_id = await system.new_session(title="Hourly sync")
    await system.ask(session_id, QUESTION)
    admin = await tabs.open(link(system.url, system, session_id, user="root", role="admin"), "root")
    await admin.wait_for(JOINED)
    await admin.wait_answer("success")
    await admin.wait_for("document.querySelector('[data-testid=editor-yaml] .cm-line')?.textContent.length > 0")
    assert await admin.page.locator("h1").count() == 1, "one h1 names the page"
    for testid, name in (("editor-yaml", "Workflow"), ("editor-code", "Job code")):
        label = await admin.page.locator(f"[data-testid={testid}] .cm-content").get_attribute("aria-label")
        assert label and name in label, (testid, label)
    assert await violations(admin) == [], "the chat"

    await admin.by("settings").click()
    for tab_name in ("features", "provider", "usage"):
        await admin.by(f"settings-tab-{tab_name}").click()
        await admin.by("save-settings").wait_for()
        assert await violations(admin) == [], f"settings: {tab_name}"

    lister = await tabs.open(link(system.url, system), "alice")
    await lister.by("session-item").first.wait_for()
    assert await violations(lister) == [], "the session list"
    admin.assert_healthy()
    lister.assert_healthy()


async def test_only_the_streaming_answer_is_announced_once_per_paragraph(systems: Systems, tabs: Tabs) -> None:
    system = await systems(chunk_delay=0.02, chunks=60)
    session_id = await system.new_session()
    tab = await open_chat(tabs, system, session_id, "alice")
    others = "[aria-live]:not([data-testid=announcer]):not(.cm-announced)"  # CodeMirror's own, for its commands
    assert await tab.page.locator(others).count() == 0, "no other live region"
    await tab.page.evaluate(
        f"""window.__said = []; new MutationObserver(() => window.__said.push({LIVE}.textContent))
        .observe({LIVE}, {{childList: true, characterData: true, subtree: true}})"""
    )
    await tab.ask(QUESTION)
    await tab.wait_answer("success")
    await tab.wait_for("window.__said.some((text) => text.includes('checked a manual run'))")
    said = [text for text in await tab.page.evaluate("window.__said") if text.strip()]
    answer = (await tab.messages())[-1]["text"]
    assert 4 <= len(said) <= 20, f"a few announcements, one per paragraph: {len(said)}"
    assert len(set(said)) == len(said), "nothing is said twice"
    assert said[0].startswith("How do I load records"), said[0]
    assert all(" ".join(text.split())[:20] in " ".join(answer.split()) for text in said), said
    assert await tab.page.get_attribute("[data-testid=announcer]", "aria-live") == "polite"
    tab.assert_healthy()


async def tab_to(tab: Tab, testid: str, limit: int = 40) -> list[str]:
    """Press Tab until the element `testid` has the focus; returns what was focused on the way."""
    path = []
    for _ in range(limit):
        await tab.page.keyboard.press("Tab")
        focused = await tab.page.evaluate(
            "(() => { const e = document.activeElement; return e.dataset.testid || e.tagName.toLowerCase(); })()"
        )
        path.append(focused)
        if focused == testid:
            return path
    raise AssertionError(f"{testid} not reached by Tab: {path}")


async def test_every_action_is_reachable_by_keyboard_and_focus_stays_where_a_person_expects(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems()
    session_id = await system.new_session(title="Cron")
    for n in range(3):
        await system.ask(session_id, f"Question {n}")
    tab = await open_chat(tabs, system, session_id, "alice")
    await tab.wait_answer("success", count=3)
    assert await tab.page.evaluate(FOCUSED) == "composer", "an opened chat has the composer focused"

    await tab.page.locator(".brand").focus()
    await tab.page.keyboard.press("Shift+Tab")
    assert await tab.page.evaluate(FOCUSED) == "skip-to-composer", "the first Tab stop skips to the message box"
    await tab.page.keyboard.press("Enter")
    assert await tab.page.evaluate(FOCUSED) == "composer"
    await tab.page.locator("[data-testid=delete-session]").last.focus()  # the end of the session list
    path = await tab_to(tab, "composer")
    assert "pre" not in path and "code" not in path, f"code blocks are not Tab stops: {path}"
    assert len(path) <= 2 * 6 + 2, f"from the list to the composer: a stop or two per message at most: {path}"

    await tab.by("composer").fill("first line\nsecond line")
    await tab.page.keyboard.press("Control+ArrowUp")
    assert await tab.by("quick-ask").is_hidden(), "Ctrl+↑ in a composer with text is the caret's"
    assert await tab.page.evaluate("document.activeElement.selectionStart") < len("first line\nsecond line")
    await tab.by("send").click()
    await tab.wait_answer("success", count=4)
    assert await tab.page.evaluate(FOCUSED) == "composer", "Send keeps the focus in the composer"

    await tab.by("new-session").focus()
    await tab.page.keyboard.press("Enter")
    await tab.wait_for(JOINED)
    await tab.wait_for(f"{FOCUSED} === 'composer'", within=5)

    row = tab.page.locator("[data-testid=session-item]").filter(has_text="Cron")
    await row.locator(".open").focus()
    await tab.page.keyboard.press("Tab")
    assert await tab.page.evaluate(FOCUSED) == "rename-session"
    assert await row.get_by_test_id("rename-session").is_visible(), "a focused action is visible"
    await tab.page.keyboard.press("Enter")
    await tab.by("rename-input").press("Control+a")
    await tab.page.keyboard.type("Cron jobs")
    await tab.page.keyboard.press("Enter")
    await tab.by("session-item").filter(has_text="Cron jobs").wait_for()
    await tab.by("session-item").filter(has_text="Cron jobs").locator(".open").focus()
    await tab.page.keyboard.press("Tab")
    await tab.page.keyboard.press("Tab")
    assert await tab.page.evaluate(FOCUSED) == "delete-session"
    tab.assert_healthy()


async def test_a_refresh_of_the_session_list_keeps_the_keyboard_focus_on_the_same_control(
    systems: Systems, tabs: Tabs
) -> None:
    """The list is drawn anew whenever a message arrives: someone tabbing through it must not be thrown out."""
    system = await systems()
    older = await system.new_session(title="Older")
    session_id = await system.new_session(title="Newer")
    tab = await open_chat(tabs, system, session_id, "alice")
    await tab.page.locator(f"[data-id='{older}'] [data-testid=rename-session]").focus()
    await system.ask(session_id, QUESTION)  # its user_message and new_message each refresh the list
    preview = f"document.querySelector(\"[data-id='{session_id}'] .preview\")"
    await tab.wait_for(f"{preview}?.textContent.startsWith('Assistant')")
    assert await tab.page.evaluate(FOCUSED) == "rename-session"
    assert await tab.page.evaluate("document.activeElement.closest('li').dataset.id") == older


async def test_a_title_being_typed_survives_a_refresh_of_the_session_list(systems: Systems, tabs: Tabs) -> None:
    """A message arriving mid-rename redraws the list: the field, what is typed in it and its focus stay."""
    system = await systems()
    older = await system.new_session(title="Older")
    session_id = await system.new_session(title="Newer")
    tab = await open_chat(tabs, system, session_id, "alice")
    await tab.page.locator(f"[data-id='{older}'] [data-testid=rename-session]").click()
    await tab.by("rename-input").fill("Half-typed")
    await system.ask(session_id, QUESTION)  # its user_message and new_message each refresh the list
    preview = f"document.querySelector(\"[data-id='{session_id}'] .preview\")"
    await tab.wait_for(f"{preview}?.textContent.startsWith('Assistant')")
    assert await tab.page.evaluate(FOCUSED) == "rename-input"
    assert await tab.by("rename-input").input_value() == "Half-typed"
    await tab.page.keyboard.type(" title")
    await tab.page.keyboard.press("Enter")
    await tab.page.locator(f"[data-id='{older}']").filter(has_text="Half-typed title").wait_for()
    assert (await stored_session(system, older))["title"] == "Half-typed title"
