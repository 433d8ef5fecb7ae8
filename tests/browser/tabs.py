"""Tabs of the web app in Playwright: open the page as a person would from a link, and read what it shows.

Each tab records, from before the page's own script runs, every text the
assistant's messages showed (a MutationObserver) and the length of the newest
answer at every animation frame, so a test can check what was on screen at any
moment of a stream without polling fast.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

RECORDER = """
window.__seen = [];
window.__frames = [];
const answers = () =>
  document.querySelectorAll('[data-testid=message][data-role=assistant] [data-testid=message-content]');
new MutationObserver(() => {
  for (const el of answers()) window.__seen.push(el.textContent);
}).observe(document, {subtree: true, childList: true, characterData: true});
const frame = () => {
  const all = answers();
  window.__frames.push(all.length ? all[all.length - 1].textContent.length : 0);
  requestAnimationFrame(frame);
};
requestAnimationFrame(frame);
"""

ANSWER = "[data-testid=message][data-role=assistant]"


class Tab:
    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = name
        self.errors: list[str] = []
        self.requests: list[tuple[str, str]] = []
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", lambda message: message.type in ("error", "warning") and self.errors.append(message.text))
        page.on("request", lambda request: self.requests.append((request.method, request.url)))

    def by(self, testid: str) -> Any:
        return self.page.get_by_test_id(testid)

    async def ask(self, question: str) -> None:
        """Type the question and press Enter, as a person would."""
        await self.by("composer").fill(question)
        await self.by("composer").press("Enter")

    async def wait_for(self, expression: str, within: float = 20) -> Any:
        """Poll `expression` until it is truthy: evaluated through DevTools, as the page's Content-Security-Policy
        forbids the `eval` that Playwright's `wait_for_function` runs in the page."""
        deadline = asyncio.get_running_loop().time() + within
        while not (value := await self.page.evaluate(expression)):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"{self.name}: not within {within} s: {expression}")
            await asyncio.sleep(0.02)
        return value

    async def wait_answer(self, status: str = "success", count: int = 1) -> None:
        """Until the page shows `count` answers, the last one ended with `status`."""
        await self.wait_for(
            f"(() => {{ const a = document.querySelectorAll('{ANSWER}');"
            f" return a.length === {count} && a[a.length - 1].dataset.status === '{status}'; }})()"
        )

    async def wait_streaming(self, chars: int = 1) -> None:
        """Until the newest answer is streaming and shows at least `chars` characters."""
        await self.wait_for(
            f"(() => {{ const a = [...document.querySelectorAll('{ANSWER}')].pop();"
            " return a && a.dataset.status === 'processing'"
            f" && a.querySelector('[data-testid=message-content]').textContent.length >= {chars}; }})()"
        )

    async def messages(self) -> list[dict[str, Any]]:
        return await self.page.evaluate(
            """[...document.querySelectorAll('[data-testid=message]')].map((el) => ({
              role: el.dataset.role, status: el.dataset.status,
              text: el.querySelector('[data-testid=message-content]').textContent.trim(),
              time: el.querySelector('time')?.getAttribute('datetime') || null,
              banner: el.querySelector('[data-testid=error-banner]:not([hidden])')?.textContent || null,
            }))"""
        )

    async def editor(self, testid: str) -> str:
        """The text a CodeMirror editor shows, line by line."""
        return await self.page.evaluate(
            f"[...document.querySelectorAll('[data-testid={testid}] .cm-line')].map((l) => l.textContent).join('\\n')"
        )

    async def seen(self) -> list[str]:
        return await self.page.evaluate("window.__seen")

    async def frames(self) -> list[int]:
        return await self.page.evaluate("window.__frames")

    def assert_healthy(self, expected: str = "") -> None:
        """No uncaught exception, console error or warning (but those containing `expected`)."""
        errors = [error for error in self.errors if not expected or expected not in error]
        assert errors == [], f"{self.name}: errors in the page: {errors}"


class Tabs:
    """The tabs of one test; each in a browser context of its own (its own storage), like another person."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.contexts: list[Any] = []
        self.tabs: list[Tab] = []

    async def open(self, url: str, name: str, width: int = 1280, height: int = 800, **options: Any) -> Tab:
        """`options`: more of Playwright's context options (color_scheme="dark", reduced_motion="reduce", …)."""
        context = await self.browser.new_context(viewport={"width": width, "height": height}, **options)
        await context.add_init_script(RECORDER)
        self.contexts.append(context)
        tab = Tab(await context.new_page(), name)
        self.tabs.append(tab)
        await tab.page.goto(url)
        return tab

    async def close_tab(self, tab: Tab) -> None:
        await tab.page.context.close()
        self.contexts.remove(tab.page.context)
        self.tabs.remove(tab)

    async def screenshots(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, after a failed test)
        for tab in self.tabs:
            (folder / f"{tab.name}.log").write_text("\n".join(tab.errors) + "\n")
            try:
                await tab.page.screenshot(path=folder / f"{tab.name}.png", full_page=True)
            except Exception as exc:  # a crashed page still lets the others be shot
                (folder / f"{tab.name}.txt").write_text(f"no screenshot: {exc}\n")

    async def close(self) -> None:
        for context in self.contexts:
            await context.close()
