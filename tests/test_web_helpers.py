"""The web app's own helpers (clients/web/test/*.test.mjs), tested with `node --test`.

Streaming markdown made safe (`src/markdown_html.js`: healed, rendered, sanitised, checked in jsdom)
and pacing (`src/pacer.js`, on a clock the tests step) live with the UI that uses them, not in the
protocol client; they need no gateway.
"""

from __future__ import annotations

from pathlib import Path

from .node import run_node_tests

WEB = Path(__file__).parent.parent / "clients" / "web"


async def test_web_helpers_pass_their_node_tests() -> None:
    tests = sorted(str(path.relative_to(WEB)) for path in WEB.glob("test/*.test.mjs"))
    assert {"test/markdown_html.test.mjs", "test/pacer.test.mjs"} <= set(tests), tests
    await run_node_tests(WEB, tests, {}, minimum=18)
