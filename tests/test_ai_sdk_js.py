"""The Vercel AI SDK's own code against a real gateway: `ai`'s DefaultChatTransport and readUIMessageStream,
run with `node --test` from tests/ai_sdk (versions pinned in its package.json and lockfile).

The gateway runs on Redis and PostgreSQL; the Node run must pass with nothing skipped.
"""

from __future__ import annotations

from pathlib import Path

from .node import node_for, run_node_tests
from .system import System
from .test_js_client import real_system  # noqa: F401 (a fixture)

CLIENTS = Path(__file__).parent.parent / "clients"
PACKAGE = Path(__file__).parent / "ai_sdk"


async def test_the_ai_sdk_transport_passes_its_node_tests_against_a_real_gateway(
    real_system: System,  # noqa: F811
) -> None:
    node_for(CLIENTS / "js")  # the tests' other tabs are streamrelay-client sessions (clients/js/test/gateway.mjs)
    config = {"url": real_system.url, "tokens": {user: real_system.token(user, "acme") for user in ("alice", "bob")}}
    await run_node_tests(PACKAGE, ["transport.test.mjs"], config, minimum=6)
