"""The assistant turned off and on in Settings, seen live by every open tab of the tenant (the `tenant:<id>` topic)."""

from __future__ import annotations

import pytest

from .tabs import Tab, Tabs
from .test_web_app import JOINED, QUESTION, Systems, link, open_chat

pytestmark = pytest.mark.asyncio(loop_scope="module")

SAVED = "document.querySelector('[data-testid=save-note]').textContent === 'Saved.'"
TURNED_OFF = "The AI assistant is turned off"


async def toggle_assistant(admin: Tab, on: bool) -> None:
    await admin.by("settings").click()
    toggle = admin.by("feature-ai_assistant")
    await (toggle.check() if on else toggle.uncheck())
    await admin.by("save-settings").click()
    await admin.wait_for(SAVED)


async def test_turning_the_assistant_off_and_on_reaches_every_open_tab_of_the_tenant_within_two_seconds(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems()
    session_id = await system.new_session()
    reader = await open_chat(tabs, system, session_id, "bob")
    lister = await tabs.open(link(system.url, system, user="carol"), "carol")  # the session list only
    await lister.page.get_by_text("Ctrl+↑").wait_for()
    admin = await tabs.open(link(system.url, system, session_id, user="admin", role="admin"), "admin")
    await admin.wait_for(JOINED)

    await toggle_assistant(admin, on=False)
    await reader.by("composer-notice").filter(has_text=TURNED_OFF).wait_for(timeout=2000)
    assert await reader.by("composer").is_disabled() and await reader.by("send").is_disabled()
    assert await reader.by("messages").is_visible(), "the history stays readable"
    await reader.page.keyboard.press("Control+ArrowUp")
    assert await reader.by("quick-ask").is_hidden(), "no Quick Ask while the assistant is off"
    await lister.page.get_by_text(TURNED_OFF).wait_for(timeout=2000)

    await toggle_assistant(admin, on=True)
    await reader.by("composer-notice").wait_for(state="hidden", timeout=2000)
    assert await reader.by("composer").is_enabled()
    await lister.page.get_by_text("Ctrl+↑").wait_for(timeout=2000)
    await reader.ask(QUESTION)
    await reader.wait_answer("success")
    await admin.by("close-settings").click()
    await admin.wait_answer("success")  # the admin's chat followed too
    for tab in (reader, lister, admin):
        tab.assert_healthy()


async def test_a_chat_opened_while_the_assistant_is_off_joins_once_it_is_turned_on(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems()
    session_id = await system.new_session()
    off = {"experimental_features": {"ai_assistant": False}}
    response = await system.http.put("/api/tenant/settings", json=off, headers=system.auth("root", "acme", "admin"))
    response.raise_for_status()
    reader = await tabs.open(link(system.url, system, session_id, user="bob"), "bob")
    await reader.by("assistant-off").filter(has_text=TURNED_OFF).wait_for()
    await system.enable_assistant()
    await reader.wait_for(JOINED, within=2)
    assert await reader.by("assistant-off").is_hidden()
    await reader.ask(QUESTION)
    await reader.wait_answer("success")
    reader.assert_healthy()
