"""Headless Chromium driven over the Chrome DevTools Protocol, with the `websockets` library.

Just enough of CDP for page tests: open tabs, evaluate JavaScript, wait for a
condition, type and click with real input events, take screenshots, and
collect console messages and uncaught exceptions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from ..services import unavailable

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    # Every tab of a test is active at once: no throttled timers in "background" tabs.
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    "--window-size=1000,800",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]


def chromium_binary() -> str:
    """The Chromium to drive: $CHROMIUM, else /usr/bin/chromium or one on PATH; skips (fails in CI) without."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser"), shutil.which("google-chrome")):  # fmt: skip
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    unavailable("Chromium is not installed (Debian: apt-get install chromium)")
    raise AssertionError("unreachable")


class CDPError(Exception):
    pass


class Browser:
    """One headless Chromium with a fresh profile; `async with Browser() as browser`."""

    def __init__(self, binary: str | None = None, startup_timeout: float = 20) -> None:
        self.binary = binary or chromium_binary()
        self.startup_timeout = startup_timeout
        self.profile = tempfile.mkdtemp(prefix="streamrelay-chromium-")
        self.process: asyncio.subprocess.Process | None = None
        self.connection: ClientConnection | None = None
        self.ids = itertools.count(1)
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.tabs: dict[str, Tab] = {}
        self.reader: asyncio.Task[None] | None = None
        self.log = Path(self.profile) / "chromium.log"

    async def __aenter__(self) -> Browser:
        with self.log.open("wb") as log:
            self.process = await asyncio.create_subprocess_exec(
                self.binary, *FLAGS, f"--user-data-dir={self.profile}", "about:blank",
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        try:
            endpoint = await self._endpoint()
            self.connection = await websockets.connect(endpoint, max_size=None, ping_interval=None)
        except BaseException:
            await self._stop()
            raise
        self.reader = asyncio.create_task(self._read())
        return self

    async def _endpoint(self) -> str:
        """The browser's websocket address, from the DevToolsActivePort file Chromium writes."""
        active = Path(self.profile) / "DevToolsActivePort"
        async with asyncio.timeout(self.startup_timeout):
            while True:
                if self.process is not None and self.process.returncode is not None:
                    raise RuntimeError(f"Chromium exited with {self.process.returncode}: {self.output()}")
                with contextlib.suppress(FileNotFoundError, ValueError):
                    port, path = active.read_text().split("\n")[:2]
                    if port and path:
                        return f"ws://127.0.0.1:{int(port)}{path}"
                await asyncio.sleep(0.05)

    def output(self) -> str:
        with contextlib.suppress(OSError):
            return self.log.read_text(errors="replace")[-3000:]
        return ""

    async def __aexit__(self, *exc_info: object) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send("Browser.close"), 3)
            await self.connection.close()
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        await self._stop()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def _stop(self) -> None:
        """Wait for the Chromium this started to exit (after Browser.close), else kill it."""
        if self.process is None:
            return
        try:
            await asyncio.wait_for(self.process.wait(), 3)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()

    async def _read(self) -> None:
        assert self.connection is not None
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.connection:
                message = json.loads(raw)
                if "id" in message:
                    future = self.waiting.pop(message["id"], None)
                    if future is not None and not future.done():
                        future.set_result(message)
                elif (tab := self.tabs.get(message.get("sessionId", ""))) is not None:
                    tab.on_event(message["method"], message.get("params", {}))
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(CDPError(f"the browser connection closed: {self.output()}"))

    async def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> Any:
        assert self.connection is not None
        ident = next(self.ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        future = self.waiting[ident] = asyncio.get_running_loop().create_future()
        await self.connection.send(json.dumps(message))
        answer = await asyncio.wait_for(future, 15)
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    async def open(self, url: str, name: str = "", init_script: str | None = None) -> Tab:
        """A new tab showing `url`, loaded; `init_script` runs in it before the page's own scripts."""
        # A window of its own per tab: every tab renders (and can be screenshot) at once.
        target = (await self.send("Target.createTarget", {"url": "about:blank", "newWindow": True}))["targetId"]
        session = (await self.send("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        tab = self.tabs[session] = Tab(self, session, target, name or f"tab{len(self.tabs) + 1}")
        await tab.send("Runtime.enable")
        await tab.send("Page.enable")
        if init_script is not None:
            await tab.send("Page.addScriptToEvaluateOnNewDocument", {"source": init_script})
        await tab.navigate(url)
        return tab


class Tab:
    def __init__(self, browser: Browser, session: str, target: str, name: str) -> None:
        self.browser = browser
        self.session = session
        self.target = target
        self.name = name
        self.console: list[tuple[str, str]] = []  # (type, text)
        self.exceptions: list[str] = []
        self.loaded = asyncio.Event()

    def on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", []))
            self.console.append((params["type"], text))
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
        elif method == "Page.loadEventFired":
            self.loaded.set()

    async def send(self, method: str, params: dict[str, Any] | None = None) -> Any:
        return await self.browser.send(method, params, self.session)

    async def navigate(self, url: str) -> None:
        self.loaded.clear()
        answer = await self.send("Page.navigate", {"url": url})
        if answer.get("errorText"):
            raise CDPError(f"{self.name}: could not open {url}: {answer['errorText']}")
        await asyncio.wait_for(self.loaded.wait(), 15)

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        answer = await self.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            raise CDPError(f"{self.name}: {details.get('exception', {}).get('description') or details['text']}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, within: float = 10, interval: float = 0.05) -> Any:
        """Poll until the expression is truthy; its value."""
        try:
            async with asyncio.timeout(within):
                while True:
                    if value := await self.evaluate(expression):
                        return value
                    await asyncio.sleep(interval)
        except TimeoutError:
            state = await self.evaluate("document.getElementById('state')?.textContent")
            raise AssertionError(
                f"{self.name}: still not true after {within}s: {expression} (state: {state!r}; "
                f"console: {self.console[-5:]}; exceptions: {self.exceptions})"
            ) from None

    async def center(self, selector: str) -> tuple[float, float]:
        box = await self.evaluate(
            f"(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();"
            " return [r.left + r.width / 2, r.top + r.height / 2]; })()"
        )
        return box[0], box[1]

    async def click(self, selector: str) -> None:
        """A real left click (mouse down and up) in the middle of the element."""
        x, y = await self.center(selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            )

    async def type(self, selector: str, text: str) -> None:
        """Click into the element and type `text` as keyboard input."""
        await self.click(selector)
        await self.send("Input.insertText", {"text": text})

    async def screenshot(self, path: Path) -> Path:
        await self.send("Page.bringToFront")
        data = (await self.send("Page.captureScreenshot", {"format": "png"}))["data"]
        await asyncio.to_thread(path.write_bytes, base64.b64decode(data))
        return path
