"""What a session costs Redis, measured with `MEMORY USAGE`, for this tree and a git revision side by side.

    .venv/bin/python -m bench.redis_costs --before 0b80a35

One private `redis-server`; each tree measured in a process of its own (the revision from a git worktree of
this repository, removed afterwards), through `create_broker(from_env(…))` as the gateway and the workers
build it, publishing what they publish:

- **per logged chunk**: an answer of 1,000 40-byte chunks; the log's growth / 1,000;
- **per finished session after the TTL**: a question, an answer of 300 40-byte chunks (12 KB) and its final
  message, a claim and a cached join page; then `HISTORY_TTL_SECONDS` (2 here; a tree without that setting
  keeps its own TTL) and one second more; every key of the session summed;
- **per session after a PATCH flood**: 40 `session_updated` of a 200 KB context (what `PATCH` publishes) and
  the join page holding the last one; every key of the session summed.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
TTL_SECONDS = 2
CHUNK = "forty bytes of an answer, streamed now. "  # 40 bytes


def session_key_names(session_id: str) -> list[str]:
    tag = f"{{ai_session:{session_id}}}"
    return [f"{tag}:{name}" for name in ("live", "log", "content", "changes", "page", "applied")]


async def measure(redis_url: str) -> dict[str, float]:
    """In the tree on `sys.path`: the three figures, in bytes."""
    import redis.asyncio as redis

    from relay.broker import create_broker
    from relay.settings import from_env
    from schema import events

    env = {"REDIS_URL": redis_url, "RELAY_SECRET": "bench", "HISTORY_TTL_SECONDS": str(TTL_SECONDS)}
    broker = create_broker(from_env(env))
    await broker.start()
    # A tree before the broker became a container of roles was its roles itself, and cached a "page".
    event_log, grants = getattr(broker, "event_log", broker), getattr(broker, "grants", broker)
    store_attachment = getattr(event_log, "store_attachment", None) or event_log.store_page
    leased = "lease" in inspect.signature(event_log.publish).parameters
    client = redis.Redis.from_url(redis_url)

    async def publish(session_id: str, event: str, message_id: str, payload: dict[str, Any]) -> None:
        lease = {"lease": 1} if leased and message_id.startswith("answer") else {}
        await event_log.publish(session_id, event, message_id, payload, **lease)

    async def cost(session_id: str) -> int:
        return sum([await client.memory_usage(key, samples=0) or 0 for key in session_key_names(session_id)])

    async def answer(session_id: str, chunks: int) -> None:
        message_id = f"answer-{session_id}-00000000000000000000"  # 36 characters, as a uuid
        await publish(session_id, events.MESSAGE_PROCESSING, message_id, {"session_id": session_id})
        for _ in range(chunks):
            await publish(session_id, events.STREAMING_CHUNK, message_id, {"content": CHUNK})

    try:
        await publish("chunks", events.USER_MESSAGE, "question", {"message": {"content": "?"}})
        empty = await client.memory_usage("{ai_session:chunks}:log", samples=0)
        await answer("chunks", 1000)
        full = await client.memory_usage("{ai_session:chunks}:log", samples=0)

        await publish("finished", events.USER_MESSAGE, "question", {"message": {"content": "Tell me more."}})
        await answer("finished", 300)
        final = {"message": {"id": "answer-finished", "content": CHUNK * 300, "status": "success", "changes": []}}
        await publish("finished", events.NEW_MESSAGE, "answer-finished-00000000000000000000", final)
        await grants.grant("finished", "c" * 64)
        await store_attachment("finished", json.dumps(final).encode())
        finished_live = await cost("finished")

        context = {"job_code": "x" * 200_000}
        for revision in range(40):
            session = {"id": "flood", "title": "", "revision": revision + 2, "context": context}
            await publish("flood", events.SESSION_UPDATED, "", {"session": session})
        await store_attachment("flood", json.dumps({"session": session}).encode())
        flood = await cost("flood")

        await asyncio.sleep(TTL_SECONDS + 1)
        finished_after_ttl = await cost("finished")
    finally:
        await client.aclose()
        await broker.close()
    return {
        "bytes per logged chunk (40-byte content)": (full - empty) / 1000,
        "bytes per finished session, live": finished_live,
        "bytes per finished session after the TTL": finished_after_ttl,
        "bytes per session after 40 PATCHes of 200 KB": flood,
    }


def measure_tree(tree: Path, redis_url: str) -> dict[str, float]:
    """`measure` in a process of its own, importing the tree at `tree`."""
    # This file, run by path: the tree's own `bench` package (an older one) comes first on its path.
    measured = f"runpy.run_path({__file__!r})['measure']({redis_url!r})"
    code = f"import asyncio, json, runpy; print(json.dumps(asyncio.run({measured})))"
    env = {**os.environ, "PYTHONPATH": str(tree)}
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--before", default="0b80a35", help="the git revision to compare with (default 0b80a35)")
    args = parser.parse_args()
    from .services import Redis  # here: `measure_tree` runs this file by path in another tree
    from .targets import Checkout

    with tempfile.TemporaryDirectory() as workdir:
        redis_server = Redis(Path(workdir))
        checkout = Checkout(args.before, Path(workdir))
        try:
            started = time.monotonic()
            before = measure_tree(checkout.path, redis_server.url)
            redis_server.flush()
            after = measure_tree(HERE, redis_server.url)
        finally:
            checkout.stop()
            redis_server.stop()
    took = time.monotonic() - started
    print(f"| Redis cost (MEMORY USAGE, one run, {took:.0f} s) | {args.before} | this tree | ratio |")
    print("|---|---|---|---|")
    for name, value in before.items():
        ratio = f"{after[name] / value:.3f}" if value else "—"
        print(f"| {name} | {value:,.0f} | {after[name]:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
