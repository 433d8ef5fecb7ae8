"""People shown by the names their tokens carry, and message previews as plain text."""

from __future__ import annotations

import pytest

from relay.auth import mint

from ..system import SECRET
from .tabs import Tabs
from .test_web_app import JOINED, QUESTION, Systems, link

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_people_are_shown_by_the_name_in_their_token(systems: Systems, tabs: Tabs) -> None:
    system = await systems()
    session_id = await system.new_session()
    named = {"alice": "Alice Liddell", "bob": "Bob Builder"}
    opened = {}
    for user, name in named.items():
        token = mint(SECRET, user, "acme", name=name)
        opened[user] = await tabs.open(f"{system.url}/?session={session_id}&token={token}", user)
        await opened[user].wait_for(JOINED)
    alice, bob = opened["alice"], opened["bob"]
    await alice.wait_for("document.querySelector('[data-testid=presence]').dataset.count === '2'")
    assert set((await alice.by("presence").get_attribute("title")).split(", ")) == set(named.values())

    await alice.ask(QUESTION)
    for tab in (alice, bob):
        await tab.wait_answer("success")
        await tab.page.locator("[data-testid=change][data-applied=true]").wait_for()
    lines = {tab.name: await tab.page.locator("[data-testid=change]").inner_text() for tab in (alice, bob)}
    claimer = "alice" if "by you" in lines["alice"] else "bob"
    other = "bob" if claimer == "alice" else "alice"
    assert "by you" in lines[claimer], lines
    assert f"by {named[claimer]}" in lines[other], f"the other tab names who applied it: {lines}"
    assert claimer not in lines[other].split("by ")[-1], "no raw user id"
    alice.assert_healthy()
    bob.assert_healthy()


async def test_the_session_list_previews_the_last_message_as_plain_text(systems: Systems, tabs: Tabs) -> None:
    system = await systems()
    session_id = await system.new_session(title="Cron")
    await system.ask(session_id, "How do I run it **every hour**?")
    tab = await tabs.open(link(system.url, system), "alice")
    preview = tab.by("session-item").filter(has_text="Cron").locator(".preview")
    await preview.wait_for()
    text = await preview.inner_text()
    assert text.startswith("Assistant: How do I run it every hour?"), text
    for markup in ("##", "**", "`", "*"):
        assert markup not in text, f"raw markdown {markup!r} in the preview {text!r}"
    tab.assert_healthy()
