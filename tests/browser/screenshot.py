"""Take docs/screenshot.png: the web app mid-stream, with the workflow applied in the editor pane.

    .venv/bin/python -m tests.browser.screenshot [docs/screenshot.png]

Runs the whole system in this process (in-memory broker, SQLite, demo upstream,
as `make dev` does), opens the page in Debian's Chromium through Playwright,
asks a question and shoots while the answer streams.
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


async def shoot(path: Path, width: int = 1400, height: int = 860) -> None:
    with tempfile.TemporaryDirectory() as folder:
        backend = Backend("memory-sqlite", None, f"sqlite+aiosqlite:///{folder}/streamrelay.db")
        async with System(backend, chunk_delay=0.08) as system, async_playwright() as playwright:
            await system.new_session("demo-user", title="Salesforce → PostgreSQL")
            session_id = await system.new_session("demo-user", title="Hourly contact sync", context=DEMO_TOOLS)
            browser = await playwright.chromium.launch(executable_path=chromium_binary(), args=FLAGS)
            # bypass_csp: Playwright's wait_for_function evaluates in the page, which its policy forbids
            page = await browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True)
            await page.goto(f"{system.url}/?session={session_id}&token={system.token('demo-user', role='admin')}")
            await page.wait_for_function("document.querySelector('[data-testid=chat]')?.dataset.joined === 'true'")
            await page.get_by_test_id("composer").fill(QUESTION)
            await page.get_by_test_id("composer").press("Enter")
            await page.wait_for_function(MID_STREAM, timeout=30_000)
            await page.screenshot(path=path)
            await browser.close()


if __name__ == "__main__":
    asyncio.run(shoot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshot.png")))
