"""The web app at phone size (390×844), in dark mode and with reduced motion; screenshots kept as test artefacts
(test-results/screens/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .axe import violations
from .conftest import FAILURES
from .tabs import Tab, Tabs
from .test_web_app import JOINED, QUESTION, Systems, link

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCREENS = FAILURES.parent / "screens"
PHONE = {"width": 390, "height": 844}
SIDEWAYS = "document.documentElement.scrollWidth - window.innerWidth"
WIDTH = "(testid) => document.querySelector(`[data-testid=${testid}]`).getBoundingClientRect().width"
CURSOR_ANIMATION = "getComputedStyle(document.querySelector('[data-testid=streaming-indicator]')).animationName"
BACKGROUND = "getComputedStyle(document.documentElement).backgroundColor"


async def shoot(tab: Tab, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    await tab.page.screenshot(path=Path(SCREENS, f"{name}.png"))


async def on_screen(tab: Tab, testid: str) -> bool:
    return await tab.by(testid).is_visible()


async def test_at_phone_size_chat_documents_and_sessions_are_switchable_panes_without_sideways_scroll(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems(chunk_delay=0.05)
    session_id = await system.new_session(title="Hourly contact sync")
    await system.ask(session_id, "How do I sync contacts?")
    tab = await tabs.open(link(system.url, system, session_id), "phone", **PHONE)
    await tab.wait_for(JOINED)
    await tab.ask(QUESTION)
    await tab.wait_streaming(chars=300)
    assert await tab.page.evaluate(SIDEWAYS) <= 0, "no sideways scroll"
    assert (
        await on_screen(tab, "chat")
        and not await on_screen(tab, "documents")
        and not await on_screen(tab, "session-list")
    ), "one pane at a time: the chat"
    assert await tab.page.evaluate(WIDTH, "composer") >= 240, "a composer a thumb can type in"
    await shoot(tab, "phone-chat-mid-stream")

    await tab.by("pane-documents").click()
    await tab.by("documents").wait_for()
    assert not await on_screen(tab, "chat")
    await tab.wait_for("document.querySelector('[data-testid=editor-yaml] .cm-line')?.textContent.length > 0")
    assert await tab.page.evaluate(SIDEWAYS) <= 0
    await shoot(tab, "phone-documents")

    await tab.by("pane-sessions").click()
    await tab.by("session-list").wait_for()
    assert not await on_screen(tab, "chat") and not await on_screen(tab, "documents")
    assert await tab.page.evaluate(WIDTH, "session-list") >= 380, "the list takes the whole width"
    await shoot(tab, "phone-sessions")
    await tab.by("session-item").filter(has_text="Hourly contact sync").locator(".open").click()
    await tab.by("chat").wait_for()  # opening a chat shows it
    await tab.wait_answer("success", count=2)
    assert await tab.page.evaluate(SIDEWAYS) <= 0
    cut = "[...document.querySelectorAll('.content pre')].filter((pre) => pre.scrollWidth > pre.clientWidth).length"
    assert await tab.page.evaluate(cut) == 0, "long code lines wrap: nothing is cut off"
    tab.assert_healthy()


async def test_dark_mode_follows_the_system_and_stays_readable(systems: Systems, tabs: Tabs) -> None:
    system = await systems(chunk_delay=0.05)
    session_id = await system.new_session(title="Hourly contact sync")
    light = await tabs.open(link(system.url, system, session_id, user="root", role="admin"), "light")
    dark = await tabs.open(link(system.url, system, session_id, user="root", role="admin"), "dark", color_scheme="dark")
    phone = await tabs.open(link(system.url, system, session_id), "phone-dark", color_scheme="dark", **PHONE)
    for tab in (light, dark, phone):
        await tab.wait_for(JOINED)
    await dark.ask(QUESTION)
    await dark.wait_streaming(chars=500)
    await phone.wait_streaming(chars=300)
    await shoot(dark, "desktop-dark-mid-stream")
    await shoot(phone, "phone-dark-mid-stream")
    assert await light.page.evaluate(BACKGROUND) != await dark.page.evaluate(BACKGROUND)
    channels = await dark.page.evaluate(f"{BACKGROUND}.match(/\\d+/g).slice(0, 3).map(Number)")
    assert sum(channels) / 3 < 60, f"a dark background: {channels}"
    await dark.wait_answer("success")
    assert await violations(dark) == [], "the chat in dark mode"
    await dark.by("settings").click()
    await dark.by("save-settings").wait_for()
    assert await violations(dark) == [], "settings in dark mode"
    for tab in (light, dark, phone):
        tab.assert_healthy()


async def test_with_reduced_motion_the_streaming_cursor_does_not_blink(systems: Systems, tabs: Tabs) -> None:
    system = await systems(chunk_delay=0.1)
    session_id = await system.new_session()
    calm = await tabs.open(link(system.url, system, session_id, user="alice"), "calm", reduced_motion="reduce")
    usual = await tabs.open(link(system.url, system, session_id, user="bob"), "usual")
    for tab in (calm, usual):
        await tab.wait_for(JOINED)
    await calm.ask(QUESTION)
    for tab in (calm, usual):
        await tab.wait_streaming(chars=50)
    assert await usual.page.evaluate(CURSOR_ANIMATION) == "blink"
    assert await calm.page.evaluate(CURSOR_ANIMATION) == "none", "no blinking for those who asked for less motion"
    calm.assert_healthy()
    usual.assert_healthy()
