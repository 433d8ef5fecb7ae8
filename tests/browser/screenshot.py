"""Take docs/screenshot.png of a running `streamrelay dev` (or any demo page URL).

    make dev   # prints http://localhost:PORT/?session=...&token=...
    .venv/bin/python -m tests.browser.screenshot 'http://localhost:PORT/?session=...&token=...' docs/screenshot.png

Asks one question and shoots the page mid-stream: the question, the answer
growing, the workflow change it proposes.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from .cdp import Browser

QUESTION = "How do I sync new Salesforce contacts into PostgreSQL every hour?"


async def shoot(url: str, path: Path, width: int = 1100, height: int = 930) -> None:
    async with Browser() as browser:
        tab = await browser.open(url, "demo")
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        await tab.send("Emulation.setDeviceMetricsOverride", metrics)
        await tab.wait_for("document.getElementById('state').textContent.startsWith('joined')")
        await tab.type("#content", QUESTION)
        await tab.click("#send")
        await tab.wait_for("document.querySelector('.msg.streaming')?.children[1].textContent.length > 330", within=30)
        await tab.screenshot(path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    asyncio.run(shoot(sys.argv[1], Path(sys.argv[2])))
