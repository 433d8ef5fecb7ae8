"""A link with an invalid or expired token: a page that says so, and no socket retrying forever."""

from __future__ import annotations

import asyncio

import jwt
import pytest

from relay.auth import mint

from ..system import SECRET
from .proxy import Proxy
from .tabs import Tab, Tabs
from .test_web_app import JOINED, Systems

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def sockets_opened_within(tab: Tab, seconds: float) -> int:
    opened: list[object] = []
    tab.page.on("websocket", lambda socket: opened.append(socket))
    await asyncio.sleep(seconds)  # counting what does NOT happen: a reconnect storm would show in this window
    return len(opened)


@pytest.mark.parametrize(
    ("token", "heading"),
    [
        ("not-a-jwt", "This link is invalid"),
        (mint("another-secret-of-sufficient-length-for-hs256", "alice", "acme"), "This link is invalid"),
        (mint(SECRET, "alice", "acme", ttl_seconds=-60), "Your link has expired"),
    ],
    ids=["garbage", "foreign-signature", "expired"],
)
async def test_a_link_with_a_bad_token_says_so_and_does_not_reconnect_forever(
    systems: Systems, tabs: Tabs, token: str, heading: str
) -> None:
    system = await systems()
    session_id = await system.new_session()
    tab = await tabs.open(f"{system.url}/?session={session_id}&token={token}", "alice")
    await tab.page.get_by_role("heading", name=heading).wait_for(timeout=5000)
    assert await tab.by("link-problem").filter(has_text="Open the page again from your application").count() == 1
    assert await tab.by("composer").count() == 0 and await tab.by("session-list").count() == 0
    assert await tab.by("connection").count() == 0, "no 'reconnecting…' for a link that cannot work"
    assert await sockets_opened_within(tab, 3) == 0, "no more WebSocket attempts"
    refused = ("WebSocket connection to", "status of 401")  # the browser logs the one refused upgrade and probe
    assert [error for error in tab.errors if not any(text in error for text in refused)] == []


async def test_a_link_that_expires_while_the_page_is_open_says_so_at_the_next_reconnect(
    systems: Systems, tabs: Tabs
) -> None:
    system = await systems()
    session_id = await system.new_session()
    token = mint(SECRET, "alice", "acme", ttl_seconds=4)
    async with Proxy(system.url) as proxy:
        tab = await tabs.open(f"{proxy.url}/?session={session_id}&token={token}", "alice")
        await tab.wait_for(JOINED)
        await tab.wait_for(f"Date.now() > {claims_exp(token)} * 1000", within=10)
        proxy.cut()  # the connection drops after the token expired: the reconnect is refused
        await tab.page.get_by_role("heading", name="Your link has expired").wait_for(timeout=5000)
        assert await sockets_opened_within(tab, 3) == 0, "no more WebSocket attempts"
    refused = ("WebSocket connection to", "status of 401")
    assert [error for error in tab.errors if not any(text in error for text in refused)] == []


def claims_exp(token: str) -> int:
    return int(jwt.decode(token, options={"verify_signature": False})["exp"])
