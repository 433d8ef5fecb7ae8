"""Soak: generations at a steady rate for a long time, watching what each process holds.

S sessions, one tab each, and a steady rate of generation starts spread over
them round robin (open loop: each POST at its own time), sized so that about
`concurrency` generations stream at once; each session is posted to again only
well after its last answer ended. A session that has had `answers_per_session`
answers is replaced by a new one (created over the API, watched by no tab): an
answer's request carries the session's history (up to 50 messages), so sessions
that only grew would make every process hold more per generation as the soak
goes on, and hide a leak behind it. Every `sample_seconds` the report takes the
RSS of the gateway and of each worker, Redis's `used_memory`, and how many
generations have ended. What matters is the shape over time: after the warm-up
a process's RSS should stay flat (within 10 %), and Redis should hold what is
live, not what is history.

    python -m bench.run --runs 1 --targets streamrelay --workloads soak          # 30 minutes
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import redis

from . import targets
from .e2e import joined_fleet
from .fleet import Fleet
from .procfs import memory_kib
from .services import Redis


@dataclass(frozen=True)
class SoakConfig:
    minutes: float = 30.0
    concurrency: int = 50  # generations streaming at once, on average
    chunks: int = 300
    rate: float = 50.0  # chunks per second of one generation: 6 s per answer
    workers: int = 1
    worker_concurrency: int = 64
    sample_seconds: float = 60.0
    warm_up_samples: int = 2  # samples before the flat line is judged
    answers_per_session: int = 5
    generators: int = 1

    @property
    def answer_seconds(self) -> float:
        return self.chunks / self.rate

    @property
    def starts_per_s(self) -> float:
        return self.concurrency / self.answer_seconds

    @property
    def sessions(self) -> int:
        """Twice the sessions needed, so that each is posted to every two answers' time (never busy)."""
        return 2 * self.concurrency


async def soak(redis_: Redis, workdir: Path, config: SoakConfig, target: str = "streamrelay") -> dict[str, Any]:
    pipeline = targets.E2E(config.workers, config.worker_concurrency, config.chunks, config.rate)
    server = await targets.start(target, redis_.url, workdir, pipeline)
    fleet: Fleet | None = None
    try:
        ids, fleet = await joined_fleet(server, config.sessions, 1, config.generators, "soak")
        outcome: dict[str, int] = {}
        samples: list[dict[str, Any]] = []
        posting = asyncio.create_task(_post_steadily(server, list(ids), config, outcome))
        began = time.monotonic()
        try:
            while time.monotonic() - began < config.minutes * 60:
                await asyncio.sleep(min(config.sample_seconds, config.minutes * 60))
                samples.append(await _sample(server, redis_, fleet, time.monotonic() - began))
        finally:
            posting.cancel()
        await fleet.drain(expected=10**12, quiet=config.answer_seconds + 1, limit=config.answer_seconds + 60)
        samples.append(await _sample(server, redis_, fleet, time.monotonic() - began))
        stats = await fleet.stats(reset=True)
        return {
            "minutes": config.minutes,
            "generations_posted": outcome.get("posted", 0),
            "posts_refused": {k: v for k, v in outcome.items() if k != "posted"},
            "final_statuses": stats.final_statuses,
            "gaps": stats.gaps,
            "duplicates": stats.duplicates,
            "disconnects": stats.disconnects,
            "samples": samples,
            **_growth(samples, config.warm_up_samples),
        }
    finally:
        if fleet is not None:
            await fleet.close()
        server.stop()
        redis_.flush()


async def _post_steadily(server: targets.Server, ids: list[str], config: SoakConfig, outcome: dict[str, int]) -> None:
    """One POST every 1 / starts_per_s seconds, on its own schedule, to the sessions in turn; a session that had
    its answers gives its turn to a new one."""
    headers = {"Authorization": f"Bearer {server.token}"}
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()
    async with httpx.AsyncClient(base_url=server.http, headers=headers, timeout=60) as client:

        async def post(slot: int, turn: int) -> None:
            try:
                if turn and turn % config.answers_per_session == 0:
                    created = await client.post("/api/sessions", json={"title": "soak"})
                    created.raise_for_status()
                    ids[slot] = created.json()["id"]
                response = await client.post(f"/api/sessions/{ids[slot]}/messages", json={"content": "soak"})
                key = "posted" if response.status_code == 202 else str(response.status_code)
            except httpx.HTTPError as exc:
                key = type(exc).__name__
            outcome[key] = outcome.get(key, 0) + 1

        start, k = loop.time(), 0
        while True:
            await asyncio.sleep(max(0.0, start + k / config.starts_per_s - loop.time()))
            task = asyncio.create_task(post(k % len(ids), k // len(ids)))
            pending.add(task)
            task.add_done_callback(pending.discard)
            k += 1


async def _sample(server: targets.Server, redis_: Redis, fleet: Fleet, elapsed: float) -> dict[str, Any]:
    client = redis.Redis.from_url(redis_.url)
    try:
        used = (await asyncio.to_thread(client.info, "memory"))["used_memory"]
    finally:
        client.close()
    _, finals = await fleet.count()
    return {
        "t_s": round(elapsed),
        "gateway_rss_mib": _rss_mib(server.pids["gateway"][0]),
        "workers_rss_mib": [_rss_mib(pid) for pid in server.pids["workers"]],
        "redis_used_mib": round(used / 2**20, 2),
        "generations_ended": finals,  # of the sessions watched by a tab: the first ones
    }


def _rss_mib(pid: int) -> float:
    return round(memory_kib(pid).get("VmRSS", 0) / 1024, 1)


def _growth(samples: list[dict[str, Any]], warm_up: int) -> dict[str, Any]:
    """RSS at the end ÷ RSS just after the warm-up, per process: 1.0 is flat."""
    if len(samples) <= warm_up:
        return {}
    first, last = samples[warm_up - 1] if warm_up else samples[0], samples[-1]
    workers = [
        round(end / begin, 3) if begin else None
        for begin, end in zip(first["workers_rss_mib"], last["workers_rss_mib"], strict=True)
    ]
    return {
        "gateway_rss_growth": round(last["gateway_rss_mib"] / first["gateway_rss_mib"], 3),
        "workers_rss_growth": workers,
        "redis_used_growth": round(last["redis_used_mib"] / first["redis_used_mib"], 3),
    }
