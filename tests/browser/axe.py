"""axe-core (the npm package pinned in clients/web, installed by `make web`) run in a tab of the web app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..services import unavailable
from .tabs import Tab

AXE = Path(__file__).resolve().parents[2] / "clients" / "web" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


async def violations(tab: Tab) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the page as it is now: `[{id, impact, help, targets}]`."""
    if not AXE.exists():
        unavailable("axe-core is not installed (make web)")
    if not await tab.page.evaluate("typeof window.axe === 'object'"):
        # evaluated through the DevTools protocol: the page's Content-Security-Policy does not apply
        await tab.page.evaluate(f"() => {{ {AXE.read_text()}\n}}")
    found = await tab.page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations.map((v) => ({
          id: v.id, impact: v.impact, help: v.help, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
        }))"""
    )
    return [violation for violation in found if violation["impact"] in SERIOUS]
