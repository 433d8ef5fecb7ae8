"""The React binding (clients/react, npm `streamrelay-react`): its hooks tested with React Testing Library (jsdom)
under `node --test`, against a whole streamrelay on Redis and PostgreSQL; and its TypeScript types.

The node run must pass with nothing skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

from .node import node_for
from .system import System
from .test_js_client import USERS, real_system  # noqa: F401 (a fixture)

CLIENTS = Path(__file__).parent.parent / "clients"
BINDING = CLIENTS / "react"


async def test_the_react_hooks_pass_their_node_tests_against_a_real_gateway(
    real_system: System,  # noqa: F811
) -> None:
    node_for(CLIENTS / "js")  # the binding's streamrelay-client is ../js, with its own dependencies
    node = node_for(BINDING)
    config = {"url": real_system.url, "tokens": {user: real_system.token(user, t) for user, t in USERS.items()}}
    tests = sorted(str(path.relative_to(BINDING)) for path in BINDING.glob("test/*.test.mjs"))
    process = await asyncio.create_subprocess_exec(
        node, "--test", "--test-concurrency=1", "--test-reporter=tap", *tests,
        cwd=BINDING, env={**os.environ, "STREAMRELAY_TEST": json.dumps(config)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 300)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    report = output.decode()
    failed = [line for line in report.splitlines() if line.lstrip().startswith("not ok")]
    assert process.returncode == 0 and not failed, "\n".join(failed) + "\n\n" + report[-6000:]
    counts = dict(re.findall(r"^# (pass|fail|skipped|cancelled|todo) (\d+)$", report, re.MULTILINE))
    assert counts.get("fail") == "0" and counts.get("skipped") == "0" and counts.get("cancelled") == "0", counts
    assert int(counts.get("pass", "0")) >= 7, report[-3000:]
