"""Take the README's screenshots: the web app mid-stream at desktop size, at phone size and in dark mode, and
two people editing the session's workflow together.

    make screenshots        (.venv/bin/python -m tests.browser.screenshot [folder], docs/ by default)

Runs the whole system in this process as `streamrelay dev` does (in-memory broker,
SQLite, the demo upstream, the demo's sample job code), opens the page in Debian's
Chromium through Playwright as two people, asks for a workflow (applied in the
editor pane), then a documentation search, and shoots each page while that answer
streams: its tool step, the text so far and the cursor. Then the second person types
into the workflow, and the first page is shot once that person's named cursor shows.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from playwright.async_api import async_playwright

from relay.auth import mint
from relay.demo_script import SAMPLE_JOB_CODE

from ..system import SECRET, Backend, System
from .conftest import FLAGS, chromium_binary

WORKFLOW = "Draft a workflow that loads records from an HTTP API into PostgreSQL every hour"
SEARCH = "Search the docs: how do cron triggers work?"
JOINED = "document.querySelector('[data-testid=chat]')?.dataset.joined === 'true'"
MID_STREAM = (
    "(() => { const a = [...document.querySelectorAll('[data-testid=message][data-role=assistant]')].pop();"
    " return a && a.dataset.status === 'processing' && a.querySelector('[data-testid=tool-step]')"
    " && a.querySelector('[data-testid=message-content]').textContent.length > 330; })()"
)
REMOTE_CURSOR = "document.querySelector('[data-testid=editor-yaml] .cm-ySelectionInfo') !== null"
# name, viewport, color scheme, who
SHOTS = (
    ("screenshot.png", {"width": 1400, "height": 860}, "light", ("demo-user", "Ada Lovelace", "admin")),
    ("screenshot-phone.png", {"width": 390, "height": 844}, "light", ("demo-colleague", "Grace Hopper", "member")),
    ("screenshot-dark.png", {"width": 1400, "height": 860}, "dark", ("demo-user", "Ada Lovelace", "admin")),
)


async def shoot(folder: Path) -> None:
    with tempfile.TemporaryDirectory() as data:
        backend = Backend("memory-sqlite", None, f"sqlite+aiosqlite:///{data}/streamrelay.db")
        async with System(backend, chunk_delay=0.15) as system, async_playwright() as playwright:
            owner = SHOTS[0][3][0]
            await system.ask(await system.new_session(owner, title="Salesforce → PostgreSQL"), WORKFLOW, user=owner)
            context = {"job_code": SAMPLE_JOB_CODE}
            session_id = await system.new_session(
                owner, title="Hourly records sync", context=context, documents="relay"
            )
            await system.ask(session_id, WORKFLOW, user=owner)
            browser = await playwright.chromium.launch(executable_path=chromium_binary(), args=FLAGS)
            pages = []
            for _, viewport, scheme, (user, name, role) in SHOTS:
                # bypass_csp: Playwright's wait_for_function evaluates in the page, which its policy forbids
                context = await browser.new_context(
                    viewport=viewport, color_scheme=scheme, bypass_csp=True  # type: ignore[arg-type]
                )
                page = await context.new_page()
                token = mint(SECRET, user, "acme", role, name=name)
                await page.goto(f"{system.url}/?session={session_id}&token={token}")
                await page.wait_for_function(JOINED)
                pages.append(page)
            await pages[0].wait_for_function("document.querySelector('[data-testid=change][data-applied=true]')")
            await pages[0].get_by_test_id("composer").fill(SEARCH)
            await pages[0].get_by_test_id("composer").press("Enter")
            await asyncio.gather(*(page.wait_for_function(MID_STREAM, timeout=30_000) for page in pages))
            for (file, *_), page in zip(SHOTS, pages, strict=True):
                await page.screenshot(path=folder / file)
            await pages[1].set_viewport_size(SHOTS[0][1])  # the second person, at desktop size, edits
            await pages[1].locator("[data-testid=editor-yaml] .cm-line").nth(1).click()
            await pages[1].keyboard.press("End")
            await pages[1].keyboard.type("  # reviewed by Grace")
            await pages[0].wait_for_function(REMOTE_CURSOR, timeout=30_000)
            await pages[0].screenshot(path=folder / "screenshot-editing.png")
            await browser.close()


if __name__ == "__main__":
    asyncio.run(shoot(Path(sys.argv[1] if len(sys.argv) > 1 else "docs")))
