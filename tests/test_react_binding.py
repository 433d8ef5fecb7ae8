"""The React binding (clients/react, npm `streamrelay-react`): its hooks tested with React Testing Library (jsdom)
under `node --test`, against a whole streamrelay on Redis and PostgreSQL; and its TypeScript types.

The node run must pass with nothing skipped.
"""

from __future__ import annotations

from pathlib import Path

from .node import node_for, run_node_tests
from .system import System
from .test_js_client import USERS, real_system  # noqa: F401 (a fixture)

CLIENTS = Path(__file__).parent.parent / "clients"
BINDING = CLIENTS / "react"


async def test_the_react_hooks_pass_their_node_tests_against_a_real_gateway(
    real_system: System,  # noqa: F811
) -> None:
    node_for(CLIENTS / "js")  # the binding's streamrelay-client is ../js, with its own dependencies
    config = {"url": real_system.url, "tokens": {user: real_system.token(user, t) for user, t in USERS.items()}}
    tests = sorted(str(path.relative_to(BINDING)) for path in BINDING.glob("test/*.test.mjs"))
    await run_node_tests(BINDING, tests, config, minimum=7)
