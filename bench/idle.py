"""Idle workload: 2,000 sockets joined to 1,000 sessions, nothing published.

RSS per connection is the gateway's RSS growth over the measured sockets; a
warm-up batch joins first so that one-time costs (SQL pool, imports, buffers)
are not charged to the connections. The idle CPU over a quiet window shows what
holding the sockets costs (timers, pings, broker polling).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import targets
from .fleet import Fleet
from .measure import meter, other_cpu_pct, peak_rss_mib
from .procfs import memory_kib
from .services import Redis


@dataclass(frozen=True)
class IdleConfig:
    sessions: int = 1000
    tabs: int = 2
    warmup_sessions: int = 50
    settle_seconds: float = 3.0
    quiet_seconds: float = 5.0
    generators: int = 2


async def idle(name: str, redis: Redis, workdir: Path, config: IdleConfig) -> dict[str, Any]:
    server = await targets.start(name, redis.url, workdir)
    fleet: Fleet | None = None
    try:
        gateway = server.pids["gateway"][0]
        ids = await server.create_sessions(config.sessions + config.warmup_sessions)
        warm, measured = ids[: config.warmup_sessions], ids[config.warmup_sessions :]
        fleet = Fleet(config.generators)
        await fleet.connect(server.dialect, server.port, [s for s in warm for _ in range(config.tabs)], server.token)
        await asyncio.sleep(config.settle_seconds)
        before = memory_kib(gateway)["VmRSS"]
        began = time.monotonic()
        tabs = [s for s in measured for _ in range(config.tabs)]
        joined = await fleet.connect(server.dialect, server.port, tabs, server.token, concurrency=100)
        connect_s = time.monotonic() - began
        await asyncio.sleep(config.settle_seconds)
        window = meter([gateway], fleet.pids, redis=[redis.pid])
        await asyncio.sleep(config.quiet_seconds)
        cpu = window.stop()
        after = memory_kib(gateway)["VmRSS"]
        count = max(joined["joined"], 1)
        return {
            "sockets": joined["joined"],
            "failed": joined["failed"],
            "errors": joined["errors"],
            "connect_s": round(connect_s, 2),
            "joins_per_s": round(joined["joined"] / connect_s, 1),
            "join_ms": joined["join_ms"],
            "rss_before_mib": round(before / 1024, 1),
            "rss_after_mib": round(after / 1024, 1),
            "kib_per_connection": round((after - before) / count, 2),
            "idle_cpu_pct": round(100 * cpu["gateway"] / config.quiet_seconds, 2),
            "peak_rss_mib": peak_rss_mib(gateway),
            "steal_pct": cpu["steal_pct"],
            "other_cpu_pct": other_cpu_pct(cpu, config.quiet_seconds),
        }
    finally:
        if fleet is not None:
            await fleet.close()
        server.stop()
        redis.flush()
