"""clients/react's runnable example (example/app.jsx on streamrelay-react), bundled and served from another origin,
in Debian's Chromium: two people chat in one session, see each other, and the change is applied once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from ..node import node_for
from ..system import System
from .pages import bundle, serve
from .tabs import Tab, Tabs

pytestmark = pytest.mark.asyncio(loop_scope="module")

CLIENTS = Path(__file__).resolve().parents[2] / "clients"


@pytest_asyncio.fixture(loop_scope="module")
async def example_origin(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    node_for(CLIENTS / "js")  # streamrelay-client's own dependencies are bundled from there
    async with serve(bundle(CLIENTS / "react", "example/app.jsx", tmp_path_factory.mktemp("react_example"))) as origin:
        yield origin


async def open_example(tabs: Tabs, origin: str, system: System, session_id: str, user: str) -> Tab:
    tab = await tabs.open(f"{origin}/?gateway={system.url}&session={session_id}&token={system.token(user)}", user)
    await tab.wait_for("document.querySelector('main p')?.textContent.startsWith('ready')")
    return tab


async def test_the_react_example_chats_in_two_tabs_and_applies_the_change_once(
    systems: Callable[..., Awaitable[System]], tabs: Tabs, example_origin: str
) -> None:
    system = await systems(chunk_delay=0.01, chunks=30)
    session_id = await system.new_session()
    alice = await open_example(tabs, example_origin, system, session_id, "alice")
    bob = await open_example(tabs, example_origin, system, session_id, "bob")
    await alice.wait_for("document.querySelector('main p').textContent.endsWith('alice, bob')")
    await alice.page.get_by_placeholder("Ask…").fill("Load records, please")
    await alice.page.get_by_placeholder("Ask…").press("Enter")
    answer = "document.querySelectorAll('main > p').length === 3 && document.querySelector('main p').textContent"
    for tab in (alice, bob):
        await tab.wait_for(f"{answer}.startsWith('ready')", within=30)
        assert "Load records, please" in await tab.page.locator("main").inner_text()
    stored = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    final = stored.json()["messages"][-1]["content"]
    for tab in (alice, bob):
        assert final.split("\n")[0] in await tab.page.locator("main").inner_text()
    workflows = [await tab.page.locator("pre").inner_text() for tab in (alice, bob)]
    assert sorted(bool(text.strip()) for text in workflows) == [False, True], "one tab applied the change"
    for tab in (alice, bob):
        tab.assert_healthy()
