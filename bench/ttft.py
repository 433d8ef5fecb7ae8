"""Time to first token: what the relay adds before the model is called, and before the first chunk shows.

G sessions, one tab each. Messages are posted over the HTTP API at a fixed
rate of generation starts (open loop: each POST at its own time, whatever the
others are doing) to `streamrelay worker` processes in front of the bench
upstream, which answers at once (no random phase) and notes when each request
arrived (`GET /arrivals`, keyed by the message's unique content). Reported:

- POST accepted (its 202 received) → the upstream received the worker's request,
  and the same from the POST's send time: the relay's added time before the model
  is called (job queue, worker dispatch, generation start queries, connection);
  also without the generations posted in the first second (the worker's warm-up);
- POST sent → the first `streaming_chunk` at the tab, next to the same upstream
  read directly (POST → its first text delta, at the same rate, same process):
  the relay's added time to first token is the difference.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import targets
from .e2e import joined_fleet
from .fleet import Fleet
from .measure import meter, other_cpu_pct, percentiles_ms
from .services import Redis

WARM_UP_SECONDS = 1.0


@dataclass(frozen=True)
class TtftConfig:
    generations: int = 330
    starts_per_s: float = 33.0
    chunks: int = 10
    rate: float = 20.0
    workers: int = 1
    worker_concurrency: int = 64
    generators: int = 1


@dataclass
class Post:
    content: str
    session_id: str = ""
    sent: float = 0.0
    accepted: float = 0.0
    first_chunk: float = 0.0


async def ttft(
    redis: Redis,
    workdir: Path,
    config: TtftConfig,
    target: str = "streamrelay",
    on_start: Callable[[targets.Server], None] | None = None,
) -> dict[str, Any]:
    """`on_start(server)` is called just before the messages are posted (bench.profile attaches py-spy)."""
    pipeline = targets.E2E(config.workers, config.worker_concurrency, config.chunks, config.rate, phase=False)
    server = await targets.start(target, redis.url, workdir, pipeline)
    fleet: Fleet | None = None
    try:
        ids, fleet = await joined_fleet(server, config.generations, 1, config.generators, "ttft")
        direct = await _direct(server.upstream, config)
        await fleet.stats(reset=True)
        window = meter(server.pids["gateway"], fleet.pids, workers=server.pids["workers"], redis=[redis.pid])
        if on_start is not None:
            on_start(server)
        began = time.monotonic()
        posts = await post_open_loop(server, ids, config.starts_per_s)
        await _until_finished(fleet, len(ids), limit=config.chunks / config.rate + 60)
        wall = time.monotonic() - began
        cpu = window.stop()
        stats = await fleet.stats(reset=True)
        async with httpx.AsyncClient(base_url=server.upstream, timeout=30) as client:
            arrivals: dict[str, float] = (await client.get("/arrivals")).json()
        missing = [p for p in posts if p.content not in arrivals or p.session_id not in stats.first_chunk]
        if missing:
            raise RuntimeError(f"ttft: {len(missing)} generations never reached the upstream or the tab")
        for post in posts:
            post.first_chunk = stats.first_chunk[post.session_id]
        relay_first = percentiles_ms([p.first_chunk - p.sent for p in posts])
        direct_first = percentiles_ms([p.first_chunk - p.sent for p in direct])
        return {
            "generations": len(posts),
            "starts_per_s": config.starts_per_s,
            "workers": config.workers,
            "accepted_to_upstream_ms": percentiles_ms([arrivals[p.content] - p.accepted for p in posts]),
            # A worker just started pays its first connections and statements in the first few generations
            # (their 3–5 samples decide the p99 of 330): the steady rate is the figure without the first second.
            "accepted_to_upstream_steady_ms": percentiles_ms(
                [arrivals[p.content] - p.accepted for p in posts if p.sent >= posts[0].sent + WARM_UP_SECONDS]
            ),
            "post_to_upstream_ms": percentiles_ms([arrivals[p.content] - p.sent for p in posts]),
            "post_accept_ms": percentiles_ms([p.accepted - p.sent for p in posts]),
            "first_chunk_ms": relay_first,
            "direct_first_chunk_ms": direct_first,
            "added_first_chunk_ms": {q: round(relay_first[q] - direct_first[q], 2) for q in ("p50", "p99")},
            "lost": stats.gaps + stats.duplicates,
            "disconnects": stats.disconnects,
            "gateway_cpu_pct": round(100 * cpu["gateway"] / wall, 1),
            "workers_cpu_pct": round(100 * cpu["workers"] / wall, 1),
            # CPU per generation (its start, `chunks` chunks, its end): holds still when the machine is busy
            "gateway_ms_per_generation": round(1000 * cpu["gateway"] / len(posts), 2),
            "worker_ms_per_generation": round(1000 * cpu["workers"] / len(posts), 2),
            "steal_pct": cpu["steal_pct"],
            "machine_busy_pct": cpu["machine_busy_pct"],
            "other_cpu_pct": other_cpu_pct(cpu, wall),
        }
    finally:
        if fleet is not None:
            await fleet.close()
        server.stop()
        redis.flush()


async def post_open_loop(server: targets.Server, session_ids: list[str], per_s: float) -> list[Post]:
    """One message per session, the i-th posted at start + i / per_s (its content unique: the upstream's key)."""
    loop = asyncio.get_running_loop()
    headers = {"Authorization": f"Bearer {server.token}"}
    limits = httpx.Limits(max_connections=len(session_ids), max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=server.http, headers=headers, timeout=30, limits=limits) as client:
        await client.get("/healthz")  # a connection is open before the clock starts
        start = loop.time() + 0.1

        async def post(i: int, session_id: str) -> Post:
            await asyncio.sleep(max(0.0, start + i / per_s - loop.time()))
            sent = Post(f"ttft {i} {session_id}", session_id, sent=time.time())
            response = await client.post(f"/api/sessions/{session_id}/messages", json={"content": sent.content})
            sent.accepted = time.time()
            response.raise_for_status()
            return sent

        return list(await asyncio.gather(*(post(i, s) for i, s in enumerate(session_ids))))


async def _direct(upstream: str, config: TtftConfig) -> list[Post]:
    """The same number of upstream streams at the same rate, read straight from this process."""
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(base_url=upstream, timeout=30) as client:
        start = loop.time() + 0.1

        async def read(i: int) -> Post:
            await asyncio.sleep(max(0.0, start + i / config.starts_per_s - loop.time()))
            post = Post(f"direct {i}", sent=time.time())
            body = {"content": post.content, "history": [], "context": {}, "meta": {}, "stream": True}
            async with client.stream("POST", "/services/job_chat/stream", json=body) as response:
                async for line in response.aiter_lines():
                    if post.first_chunk == 0.0 and "text_delta" in line:
                        post.first_chunk = time.time()
            return post

        return list(await asyncio.gather(*(read(i) for i in range(config.generations))))


async def _until_finished(fleet: Fleet, finals: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if (await fleet.count())[1] >= finals:
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"ttft: not every generation ended within {limit:.0f} s")
