"""End-to-end workload: upstream SSE → `streamrelay worker` processes → Redis → gateway → tabs.

G sessions, K tabs each; one message posted per session over the HTTP API starts
G concurrent generations, each streaming N chunks at C chunks/s from the bench
upstream (`bench.upstream`), whose chunk texts carry their emit time. Each tab
must see exactly N + 3 events (user_message, message_processing, N chunks,
new_message) with `seq` growing by one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import commandstats, targets
from .fleet import Fleet
from .measure import delivery_report, meter, peak_rss_mib, percentiles_ms, steady_latencies
from .services import Redis

WORKER_READY = b"taking jobs"


@dataclass(frozen=True)
class E2EConfig:
    generations: int = 100
    tabs: int = 2
    chunks: int = 200
    rate: float = 20.0
    workers: int = 2
    worker_concurrency: int = 64
    generators: int = 2


async def e2e(
    redis: Redis,
    workdir: Path,
    config: E2EConfig,
    on_start: Callable[[targets.Server], None] | None = None,
    target: str = "streamrelay",
) -> dict[str, Any]:
    """`on_start(server)` is called just before the messages are posted (bench.profile attaches py-spy)."""
    pipeline = targets.E2E(config.workers, config.worker_concurrency, config.chunks, config.rate)
    server = await targets.start(target, redis.url, workdir, pipeline)
    fleet: Fleet | None = None
    try:
        ids, fleet = await joined_fleet(server, config.generations, config.tabs, config.generators, "e2e")
        tabs = [s for s in ids for _ in range(config.tabs)]
        await fleet.stats(reset=True)
        window = meter(server.pids["gateway"], fleet.pids, workers=server.pids["workers"],
                       upstream=server.pids["upstream"], redis=[redis.pid])  # fmt: skip
        await commandstats.reset(redis.url)
        if on_start is not None:
            on_start(server)
        began = time.monotonic()
        await _post_messages(server, ids)
        await _until_finished(fleet, len(tabs), limit=config.chunks / config.rate + 60)
        wall = time.monotonic() - began
        cpu = window.stop()
        redis_stats = await commandstats.read(redis.url)
        stats = await fleet.stats(reset=True)
        per_tab = config.chunks + 3
        report = delivery_report(stats, {s: per_tab * config.tabs for s in ids}, cpu, wall)
        chunks = config.generations * config.chunks
        report.update(
            # all generations start (and end) within about a second: their SQL and set-up crowd the tail there
            latency_ms_steady=percentiles_ms(steady_latencies(stats, margin=1.0)),
            generations=config.generations,
            finished=stats.finals,
            final_statuses=stats.final_statuses,
            failed_generations=sum(n for s, n in stats.final_statuses.items() if s != "success") // config.tabs,
            worker_us_per_chunk=round(1e6 * cpu["workers"] / chunks, 1),
            chunks_per_s_per_worker=round(chunks / wall / config.workers, 1),
            worker_capacity_chunks_per_s=round(chunks / cpu["workers"], 0) if cpu["workers"] else None,
            peak_rss_mib=peak_rss_mib(server.pids["gateway"][0]),
            **commandstats.per_chunk(redis_stats, cpu["redis"], chunks),
        )
        return report
    finally:
        if fleet is not None:
            await fleet.close()
        server.stop()
        redis.flush()


async def joined_fleet(
    server: targets.Server, sessions: int, tabs: int, generators: int, workload: str
) -> tuple[list[str], Fleet]:
    """Once the workers take jobs: `sessions` new sessions, each watched by `tabs` tabs of a new fleet."""
    await workers_ready(server)
    ids = await server.create_sessions(sessions)
    fleet = Fleet(generators)
    try:
        joined = await fleet.connect(server.dialect, server.port, [s for s in ids for _ in range(tabs)], server.token)
        if joined["failed"]:
            raise RuntimeError(f"{workload}: {joined['failed']} tabs could not join: {joined['errors']}")
    except BaseException:
        await fleet.close()
        raise
    return ids, fleet


async def workers_ready(server: targets.Server, within: float = 30.0) -> None:
    workers = [child for child in server.children if child.name.startswith("worker")]
    deadline = time.monotonic() + within
    while not all(WORKER_READY in child.log_path.read_bytes() for child in workers):
        if time.monotonic() > deadline:
            raise RuntimeError("the streamrelay workers did not start; see their logs")
        await asyncio.sleep(0.1)


async def _post_messages(server: targets.Server, session_ids: list[str]) -> None:
    limit = asyncio.Semaphore(16)
    headers = {"Authorization": f"Bearer {server.token}"}
    async with httpx.AsyncClient(base_url=server.http, headers=headers, timeout=30) as client:

        async def post(session_id: str) -> None:
            async with limit:
                response = await client.post(f"/api/sessions/{session_id}/messages", json={"content": "bench"})
                response.raise_for_status()

        await asyncio.gather(*(post(s) for s in session_ids))


async def _until_finished(fleet: Fleet, tabs: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        _, finals = await fleet.count()
        if finals >= tabs:
            return
        await asyncio.sleep(0.1)
