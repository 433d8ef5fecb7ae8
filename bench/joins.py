"""Reconnect storm: every tab of a gateway drops at once and rejoins with `since`.

S sessions × K tabs join (the first connect: joins without `since`), the
injector publishes at a low rate spread over the sessions (so that the logs
hold events and tabs miss some while they are away), then every socket closes
at once — a gateway deploy — and after `down_seconds` every tab reconnects and
rejoins with `since` (its epoch and last seq), `concurrency` joins in flight per
load-generator process. Reported: joins/s and join time (connect → join reply)
for the first connect and for the storm, the time until every tab is joined,
and until every tab has received an event again (replayed or live). `seq` is
checked per tab across the rejoin: a gap or a duplicate is a resume bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import targets
from .fleet import Fleet, Injector
from .measure import meter, other_cpu_pct
from .services import Redis


@dataclass(frozen=True)
class JoinsConfig:
    sessions: int = 2000
    tabs: int = 5
    concurrency: int = 100  # joins in flight per load-generator process
    rate: float = 400.0  # events/s over all sessions while the storm runs
    down_seconds: float = 1.0  # how long the tabs are away (events they must catch up on)
    streaming_limit: float = 60.0
    generators: int = 2


async def joins(
    name: str,
    redis: Redis,
    workdir: Path,
    config: JoinsConfig,
    on_phase: Callable[[str, targets.Server], None] | None = None,
) -> dict[str, Any]:
    """`on_phase(phase, server)` is called just before the tabs first connect ("connect") and just before
    they rejoin ("storm"): bench.profile attaches py-spy."""
    server = await targets.start(name, redis.url, workdir)
    fleet: Fleet | None = None
    injector: Injector | None = None
    publishing: asyncio.Task[None] | None = None
    stop = asyncio.Event()
    try:
        ids = await server.create_sessions(config.sessions)
        fleet = Fleet(config.generators)
        tabs = [s for s in ids for _ in range(config.tabs)]
        if on_phase is not None:
            on_phase("connect", server)
        first_window = meter(server.pids["gateway"], fleet.pids, redis=[redis.pid])
        began = time.monotonic()
        first = await fleet.connect(server.dialect, server.port, tabs, server.token, concurrency=config.concurrency)
        first_s = time.monotonic() - began  # a tab whose first join failed rejoins without `since`
        first_cpu = first_window.stop()
        injector = Injector(server.publisher, redis.url, ids)
        cycle = max(1.0, config.sessions / config.rate)  # one injector run reaches every session once
        publishing = asyncio.create_task(_publish_until(stop, injector, config.rate, cycle))
        await asyncio.sleep(cycle)  # the logs fill, every tab has a position
        await fleet.drop()
        await asyncio.sleep(config.down_seconds)
        if on_phase is not None:
            on_phase("storm", server)
        window = meter(server.pids["gateway"], fleet.pids, redis=[redis.pid])
        storm_began_wall, storm_began = time.time(), time.monotonic()
        storm = await fleet.rejoin(config.concurrency)
        joined_s = time.monotonic() - storm_began
        cpu = window.stop()
        streaming_s = await _until_streaming(fleet, storm["joined"], storm_began_wall, config.streaming_limit)
        stop.set()
        await publishing
        stats = await fleet.stats(reset=True)
        return {
            "tabs": len(tabs),
            "sessions": config.sessions,
            "in_flight": config.concurrency * config.generators,
            "first_joins_per_s": round(first["joined"] / first_s, 1),
            "first_join_ms": first["join_ms"],
            "first_failed": first["failed"],
            "first_gateway_ms_per_join": round(1000 * first_cpu["gateway"] / max(first["joined"], 1), 2),
            "joined": storm["joined"],
            "failed": storm["failed"],
            "errors": storm["errors"],
            "recovered": storm["recovered"],
            "joins_per_s": round(storm["joined"] / joined_s, 1),
            "join_ms": storm["join_ms"],
            "all_joined_s": round(joined_s, 2),
            "all_streaming_s": streaming_s,
            "event_interval_s": round(config.sessions / config.rate, 2),
            "gateway_ms_per_join": round(1000 * cpu["gateway"] / max(storm["joined"], 1), 2),
            "gateway_cpu_pct": round(100 * cpu["gateway"] / joined_s, 1),
            "gaps": stats.gaps,
            "duplicates": stats.duplicates,
            "disconnects": stats.disconnects,
            "steal_pct": cpu["steal_pct"],
            "machine_busy_pct": cpu["machine_busy_pct"],
            "other_cpu_pct": other_cpu_pct(cpu, joined_s),
        }
    finally:
        stop.set()
        if publishing is not None:
            with contextlib.suppress(Exception):
                await publishing
        if injector is not None:
            await injector.close()
        if fleet is not None:
            await fleet.close()
        server.stop()
        redis.flush()


async def _publish_until(stop: asyncio.Event, injector: Injector, rate: float, cycle: float) -> None:
    while not stop.is_set():
        await injector.run(rate, cycle)


async def _until_streaming(fleet: Fleet, tabs: int, since: float, limit: float) -> float | None:
    """Seconds from `since` until every rejoined tab received an event; None if some never did within `limit`."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        streaming, latest = await fleet.streaming()
        if streaming >= tabs:
            return round(latest - since, 2)
        await asyncio.sleep(0.1)
    return None
