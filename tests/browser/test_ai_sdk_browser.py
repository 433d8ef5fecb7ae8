"""A React page on the AI SDK's `useChat` (@ai-sdk/react, unchanged), served from another origin than the gateway,
in Debian's Chromium: two tabs stream one answer, and a tab reloaded mid-answer resumes it with no text twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from ..system import System
from .pages import bundle, serve
from .tabs import Tab, Tabs

pytestmark = pytest.mark.asyncio(loop_scope="module")

PACKAGE = Path(__file__).resolve().parents[1] / "ai_sdk"
ANSWER = "[data-testid=message][data-role=assistant]"  # the markup tabs.py's recorder watches (`window.__seen`)


def answer_length(index: int) -> str:
    """A JS expression: how many characters the page's `index`-th answer shows (0 while there is none)."""
    texts = f"[...document.querySelectorAll('{ANSWER} [data-testid=message-content]')]"
    return f"({texts}[{index}]?.textContent.length ?? 0)"


@pytest_asyncio.fixture(loop_scope="module")
async def page_origin(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with serve(bundle(PACKAGE, "page/app.jsx", tmp_path_factory.mktemp("ai_sdk_page"))) as origin:
        yield origin


async def open_page(tabs: Tabs, origin: str, system: System, session_id: str, name: str) -> Tab:
    url = f"{origin}/?gateway={system.url}&session={session_id}&token={system.token('alice')}"
    tab = await tabs.open(url, name)
    await tab.wait_for("document.querySelector('[data-testid=chat]')")
    return tab


async def shown_answer(tab: Tab) -> str:
    return await tab.page.evaluate(
        f"[...document.querySelectorAll('{ANSWER} [data-testid=message-content]')].pop()?.textContent ?? ''"
    )


async def wait_final(tab: Tab, status: str = "success") -> None:
    await tab.wait_for(f"[...document.querySelectorAll('{ANSWER}')].pop()?.dataset.state === '{status}'", within=60)


async def stored_answer(system: System, session_id: str) -> str:
    response = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    return response.json()["messages"][-1]["content"]


async def test_use_chat_streams_in_two_tabs_and_resumes_after_a_reload_mid_answer(
    systems: Callable[..., Awaitable[System]], tabs: Tabs, page_origin: str
) -> None:
    system = await systems(chunk_delay=0.04, chunks=120, cors_allowed_origins=(page_origin,))
    session_id = await system.new_session()
    first = await open_page(tabs, page_origin, system, session_id, "first")
    await first.by("composer").fill("How do I load records?")
    await first.by("composer").press("Enter")
    await first.wait_for(f"{answer_length(0)} > 20")
    # a second tab opened mid-answer picks the answer up (useChat's resume) and streams it too
    second = await open_page(tabs, page_origin, system, session_id, "second")
    await second.wait_for(f"{answer_length(0)} > 0")
    assert await second.page.evaluate("document.querySelector('[data-testid=chat]').dataset.status") == "streaming"
    await asyncio.gather(wait_final(first), wait_final(second))
    answer = await stored_answer(system, session_id)
    assert await shown_answer(first) == answer == await shown_answer(second)
    assert await second.page.locator("[data-testid=changes]").count() == 1

    # the first tab asks again and is reloaded mid-answer: the answer comes back, from its start, once
    await first.by("composer").fill("And into MySQL?")
    await first.by("composer").press("Enter")
    await first.wait_for(f"{answer_length(1)} > 40")
    await first.page.reload()
    await first.wait_for(f"{answer_length(0)} > 0")
    await wait_final(first)
    again = await stored_answer(system, session_id)
    assert await shown_answer(first) == again
    seen = await first.page.evaluate("window.__seen")
    assert seen and all(again.startswith(text) for text in seen), "the resumed answer never showed garbled text"
    for tab in (first, second):
        tab.assert_healthy()

