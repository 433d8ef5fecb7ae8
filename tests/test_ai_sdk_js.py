"""The Vercel AI SDK's own code against a real gateway: `ai`'s DefaultChatTransport and readUIMessageStream,
run with `node --test` from tests/ai_sdk (versions pinned in its package.json and lockfile).

The gateway runs on Redis and PostgreSQL; the Node run must pass with nothing skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

from .node import node_for
from .system import System
from .test_js_client import real_system  # noqa: F401 (a fixture)

PACKAGE = Path(__file__).parent / "ai_sdk"
USERS = ("alice", "bob")


async def test_the_ai_sdk_transport_passes_its_node_tests_against_a_real_gateway(
    real_system: System,  # noqa: F811
) -> None:
    node = node_for(PACKAGE)
    config = {"url": real_system.url, "tokens": {user: real_system.token(user, "acme") for user in USERS}}
    process = await asyncio.create_subprocess_exec(
        node, "--test", "--test-reporter=tap", "transport.test.mjs",
        cwd=PACKAGE, env={**os.environ, "STREAMRELAY_TEST": json.dumps(config)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 240)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    report = output.decode()
    failed = [line for line in report.splitlines() if line.lstrip().startswith("not ok")]
    assert process.returncode == 0 and not failed, "\n".join(failed) + "\n\n" + report[-6000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped|cancelled|todo) (\d+)$", report, re.MULTILINE))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0" and counts.get("cancelled") == "0", counts
    assert int(counts.get("pass", "0")) >= 6, report[-3000:]
