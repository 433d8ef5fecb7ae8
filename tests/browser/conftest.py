"""Playwright for the browser tests: one Debian Chromium per test module, a screenshot of every tab when a test fails.

Chromium is the system's (`/usr/bin/chromium`, or $CHROMIUM), launched through
Playwright's `executable_path`: Playwright never downloads a browser here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from ..services import PostgresDatabase, RedisServer, unavailable
from ..system import Backend, System
from .tabs import Tabs

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    # Every tab of a test is active at once: no throttled timers in "background" tabs.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
FAILURES = Path(__file__).resolve().parents[2] / "test-results" / "browser"


def chromium_binary() -> str:
    """The Chromium to drive: $CHROMIUM, else /usr/bin/chromium or one on PATH; skips (fails in CI) without."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    raise AssertionError("unreachable")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[object]:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        unavailable("playwright is not installed (make .venv/.installed)")
    binary = chromium_binary()
    async with async_playwright() as playwright:
        running = await playwright.chromium.launch(executable_path=binary, args=FLAGS, headless=True)
        yield running
        await running.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest_asyncio.fixture(loop_scope="module")
async def systems(real_backend: Backend) -> AsyncIterator[Callable[..., Awaitable[System]]]:
    """Start a whole system (`await systems(chunk_delay=…)`); it stops after the test's tabs were shot and closed."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**options: Any) -> System:
            return await stack.enter_async_context(System(real_backend, **options))

        yield start


@pytest_asyncio.fixture(loop_scope="module")
async def tabs(systems: object, browser: object, request: pytest.FixtureRequest) -> AsyncIterator[Tabs]:
    """The test's tabs (each its own browser context, like a separate person); screenshots when the test fails."""
    opened = Tabs(browser)
    yield opened
    report = request.node.stash.get(REPORTS, {}).get("call")
    if report is None or report.failed:
        await opened.screenshots(FAILURES / request.node.name.replace("/", "_"))
    await opened.close()


@pytest_asyncio.fixture(loop_scope="module")
async def real_backend(redis_server: RedisServer) -> AsyncIterator[Backend]:
    """Redis and PostgreSQL, as in production (the in-memory broker is what `make dev` shows)."""
    redis_server.flush()
    database = PostgresDatabase()
    await database.create()
    yield Backend("redis-postgres", redis_server.url, database.url)
    await database.drop()
