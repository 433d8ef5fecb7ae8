"""axe-core (the npm package pinned in clients/web, installed on first use as its lock pins) run in a tab of the
web app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..node import node_for
from .tabs import Tab

WEB = Path(__file__).resolve().parents[2] / "clients" / "web"
AXE = WEB / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


async def violations(tab: Tab) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the page as it is now: `[{id, impact, help, targets}]`."""
    node_for(WEB)  # a fresh clone has no node_modules: `npm ci` there, once
    if not await tab.page.evaluate("typeof window.axe === 'object'"):
        # evaluated through the DevTools protocol: the page's Content-Security-Policy does not apply
        await tab.page.evaluate(f"() => {{ {AXE.read_text()}\n}}")
    found = await tab.page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map((v) => ({
          id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
        }))"""
    )
    return [violation for violation in found if violation["impact"] in SERIOUS]
