"""The web app cannot be turned against its reader: a remote image in an answer is never fetched, the page runs
under its Content-Security-Policy without one violation, and the token leaves the address bar and every link."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette

from relay.server import EmbeddedServer

from ..listener import Listener
from .apollo import apollo_upstream, sse
from .tabs import Tabs
from .test_web_app import JOINED, Systems, link, open_chat

pytestmark = pytest.mark.asyncio(loop_scope="module")

VIOLATIONS = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(
  `${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}:${e.columnNumber} ${e.sample}`));
"""


def upstream_answering(text: str) -> Starlette:
    """An Apollo upstream whose answer is `text`, streamed in small pieces (each one a re-render in the tab)."""

    async def events() -> AsyncIterator[bytes]:
        for start in range(0, len(text), 8):
            yield sse("content_block_delta", {"delta": {"type": "text_delta", "text": text[start : start + 8]}})
        yield sse("complete", {"response": text})

    return apollo_upstream(events)


async def test_a_remote_image_in_an_answer_is_never_fetched_and_the_page_runs_under_its_policy(
    systems: Systems, tabs: Tabs
) -> None:
    async with Listener() as image_host:
        image = f"http://127.0.0.1:{image_host.port}/x.png?leak=the-chat"
        answer = f'Here is the chart:\n\n![sales chart]({image})\n\nAnd <img src="{image}&raw=1"> in HTML.'
        async with EmbeddedServer(upstream_answering(answer)) as upstream:
            system = await systems(upstream_url=upstream.url)
            session_id = await system.new_session()
            page = await system.http.get("/")
            policy = page.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
            assert page.headers["referrer-policy"] == "no-referrer"
            assert page.headers["x-content-type-options"] == "nosniff"

            tab = await open_chat(tabs, system, session_id, "alice")
            await tab.page.evaluate(VIOLATIONS)  # the page is up: from now on, and over the reload below
            await tab.page.context.add_init_script(VIOLATIONS)
            await tab.ask("Show me the sales")
            await tab.wait_answer("success")
            link_to_image = tab.page.locator("[data-testid=message-content] a.remote-image")
            assert await link_to_image.get_attribute("href") == image, "shown as a link the person may open"
            assert "sales chart" in await link_to_image.inner_text()
            assert await tab.page.locator("[data-testid=message-content] img[src]").count() == 0

            await tab.page.reload()
            await tab.wait_for(JOINED)
            await tab.wait_answer("success")
            assert await tab.page.evaluate("window.__violations") == []
        assert image_host.connections == 0, "the image's host never heard from the browser"
        assert [url for _, url in tab.requests if str(image_host.port) in url] == []
        tab.assert_healthy()


async def test_the_token_leaves_the_address_bar_and_appears_in_no_link(systems: Systems, tabs: Tabs) -> None:
    system = await systems()
    session_id = await system.new_session()
    token = system.token("alice")
    tab = await tabs.open(link(system.url, system, session_id), "alice")
    await tab.wait_for(JOINED)
    assert tab.page.url == f"{system.url}/?session={session_id}", "the token left the address bar"
    assert token not in await tab.page.content(), "nor is it in any link or text of the page"
    await tab.page.reload()
    await tab.wait_for(JOINED)  # the tab kept it: a reload works
    await tab.page.locator("a.brand").click()
    await tab.page.get_by_text("Pick a chat or start a new one").wait_for()
    assert tab.page.url == f"{system.url}/"
    await tab.page.go_back()
    await tab.wait_for(JOINED)
    assert "token" not in tab.page.url
    tab.assert_healthy()
