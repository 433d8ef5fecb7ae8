"""Take docs/screenshot.png: the web app with an answer, the workflow it proposed applied in the editor pane,
and another person (Bob) editing that workflow at the same time, his cursor named.

    .venv/bin/python -m tests.browser.screenshot [docs/screenshot.png]

Runs the whole system in this process (in-memory broker, SQLite, demo upstream,
as `make dev` does), opens the page in Debian's Chromium through Playwright,
asks a question, has Bob type into the workflow once the answer streams, and shoots when Bob's cursor shows.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from ..system import Backend, System
from .conftest import FLAGS, chromium_binary

QUESTION = "How do I sync new Salesforce contacts into PostgreSQL every hour?"
DEMO_TOOLS = {"demo": {"tools": True}}  # the demo upstream plays Apollo running a tool of its own
MID_STREAM = (
    "(() => { const a = [...document.querySelectorAll('[data-testid=message][data-role=assistant]')].pop();"
    " return a && a.dataset.status === 'processing'"
    " && a.querySelector('[data-testid=message-content]').textContent.length > 520"
    " && document.querySelector('[data-testid=editor-yaml] .cm-line')?.textContent.length > 0; })()"
)


SYNCED = "document.querySelector('[data-testid=editor-yaml]')?.dataset.synced === 'true'"
BOB_SEEN = "[...document.querySelectorAll('.cm-ySelectionInfo')].some((el) => el.textContent === 'bob')"


async def shoot(path: Path, width: int = 1400, height: int = 860) -> None:
    with tempfile.TemporaryDirectory() as folder:
        backend = Backend("memory-sqlite", None, f"sqlite+aiosqlite:///{folder}/streamrelay.db")
        async with System(backend, chunk_delay=0.08) as system, async_playwright() as playwright:
            await system.new_session("demo-user", title="Salesforce → PostgreSQL")
            session_id = await system.new_session(
                "demo-user", title="Hourly contact sync", context=DEMO_TOOLS, documents="relay"
            )
            browser = await playwright.chromium.launch(executable_path=chromium_binary(), args=FLAGS)
            # bypass_csp: Playwright's wait_for_function evaluates in the page, which its policy forbids
            page = await browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True)
            await page.goto(f"{system.url}/?session={session_id}&token={system.token('demo-user', role='admin')}")
            await page.wait_for_function("document.querySelector('[data-testid=chat]')?.dataset.joined === 'true'")
            bob = await browser.new_page(viewport={"width": width, "height": height})
            await bob.goto(f"{system.url}/?session={session_id}&token={system.token('bob')}")
            await bob.wait_for_function(SYNCED)
            await page.get_by_test_id("composer").fill(QUESTION)
            await page.get_by_test_id("composer").press("Enter")
            await page.wait_for_function(MID_STREAM, timeout=30_000)
            await bob.locator("[data-testid=editor-yaml] .cm-line").nth(1).click()  # Bob reviews the new workflow
            await bob.keyboard.press("End")
            await bob.keyboard.type("  # reviewed by Bob")
            await page.wait_for_function(BOB_SEEN)
            await page.screenshot(path=path)
            await browser.close()


if __name__ == "__main__":
    asyncio.run(shoot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png")))
