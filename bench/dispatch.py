"""Dispatch under load: how soon one worker that streams 100 generations starts one more.

    python -m bench.dispatch --targets streamrelay,streamrelay@b044693 --runs 2

One `streamrelay worker` (`WORKER_CONCURRENCY=256`, so that no job waits for a free slot) behind the bench
upstream (`--no-phase`: it answers at once and notes each request's arrival). 100 messages are posted at once
and stream 200 chunks at 20 chunks/s each (10 s); 2 s later, while they stream, 60 more are posted open-loop
over 3 s (the probes). A probe's POST accepted (202) → the upstream's arrival of its request is the dispatch
latency: the job queue, the worker's read loop and admission, its start SQL and its HTTP request, on a worker
that is busy publishing 2,000 chunks/s and writing finals. Next to it, the same figure for the first 100
(posted into an idle worker, all at once). Every target runs in turn on one private redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from . import targets
from .e2e import joined_fleet
from .fleet import Fleet
from .measure import meter, other_cpu_pct, percentiles_ms
from .services import Redis
from .ttft import post_open_loop


@dataclass(frozen=True)
class DispatchConfig:
    streaming: int = 100
    probes: int = 60
    probe_seconds: float = 3.0
    probes_after: float = 2.0
    chunks: int = 200
    rate: float = 20.0
    worker_concurrency: int = 256


async def dispatch(redis: Redis, workdir: Path, config: DispatchConfig, target: str) -> dict[str, Any]:
    pipeline = targets.E2E(1, config.worker_concurrency, config.chunks, config.rate, phase=False)
    server = await targets.start(target, redis.url, workdir, pipeline)
    fleet: Fleet | None = None
    try:
        ids, fleet = await joined_fleet(server, config.streaming + config.probes, 1, 1, "dispatch")
        window = meter(server.pids["gateway"], fleet.pids, workers=server.pids["workers"], redis=[redis.pid])
        began = time.monotonic()
        streaming = await post_open_loop(server, ids[: config.streaming], 1000.0)
        await asyncio.sleep(config.probes_after)
        probes = await post_open_loop(server, ids[config.streaming :], config.probes / config.probe_seconds)
        await _until_finished(fleet, len(ids), limit=config.chunks / config.rate + 60)
        wall = time.monotonic() - began
        cpu = window.stop()
        async with httpx.AsyncClient(base_url=server.upstream, timeout=30) as client:
            arrivals: dict[str, float] = (await client.get("/arrivals")).json()
        missing = [p.content for p in streaming + probes if p.content not in arrivals]
        if missing:
            raise RuntimeError(f"dispatch: {len(missing)} generations never reached the upstream")
        return {
            "target": target,
            "streaming": config.streaming,
            "probes": config.probes,
            "probe_accepted_to_upstream_ms": percentiles_ms([arrivals[p.content] - p.accepted for p in probes]),
            "probe_post_accept_ms": percentiles_ms([p.accepted - p.sent for p in probes]),
            "burst_accepted_to_upstream_ms": percentiles_ms([arrivals[p.content] - p.accepted for p in streaming]),
            "workers_cpu_pct": round(100 * cpu["workers"] / wall, 1),
            "gateway_cpu_pct": round(100 * cpu["gateway"] / wall, 1),
            "steal_pct": cpu["steal_pct"],
            "other_cpu_pct": other_cpu_pct(cpu, wall),
        }
    finally:
        if fleet is not None:
            await fleet.close()
        server.stop()
        redis.flush()


async def _until_finished(fleet: Fleet, finals: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if (await fleet.count())[1] >= finals:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"dispatch: not every generation ended within {limit:.0f} s")


async def main_async(names: list[str], runs: int, config: DispatchConfig) -> list[dict[str, Any]]:
    workdir = Path("bench/results") / time.strftime("dispatch-%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True, exist_ok=True)
    redis = Redis(workdir)
    results = []
    try:
        for _ in range(runs):
            for name in names:
                result = await dispatch(redis, workdir, config, name)
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        redis.stop()
    (workdir / "results.json").write_text(json.dumps(results, indent=1))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dispatch", description=__doc__.split("\n")[0])
    parser.add_argument("--targets", default="streamrelay")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--streaming", type=int, default=100)
    args = parser.parse_args(argv)
    asyncio.run(main_async(args.targets.split(","), args.runs, DispatchConfig(streaming=args.streaming)))


if __name__ == "__main__":
    main()
