"""Fan-out workloads: injected events, S sessions × K tabs.

`fixed`: a fixed rate (100 × 2 tabs, 2,000 events/s) for the headline CPU per
delivered event and latency. `ladder`: 10 × 10 tabs, the rate doubled until a
step fails (p99 > 100 ms twice in a row, a lost event, a dropped socket, an
injector that falls behind), then bisected between the last good and the first
bad rate; the saturation throughput is the best delivered rate of a good step.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import targets
from .fleet import Fleet, Injector
from .measure import delivery_report, meter, peak_rss_mib
from .procfs import SERVER_CPUS, load_cpus, pin
from .services import Redis


@dataclass(frozen=True)
class FixedConfig:
    sessions: int = 100
    tabs: int = 2
    rate: float = 2000.0
    seconds: float = 10.0
    warmup_seconds: float = 1.0
    generators: int = 2
    pin: bool = False  # let the load use the server's core when it idles: less queueing in the load


@dataclass(frozen=True)
class LadderConfig:
    sessions: int = 10
    tabs: int = 10
    start_rate: float = 400.0
    max_rate: float = 12800.0
    resolution: float = 0.15  # bisect until the bad rate is within 15% of the good one
    max_steps: int = 10
    seconds: float = 3.0
    p99_limit_ms: float = 100.0
    generators: int = 2
    pin: bool = True  # server on CPU 0, load on the rest: shows which side saturates first


@dataclass
class Rig:
    server: targets.Server
    sessions: list[str]
    fleet: Fleet
    injector: Injector
    redis: Redis
    tabs: int

    async def step(self, rate: float, seconds: float) -> dict[str, Any]:
        """Inject at `rate` for `seconds`, wait for the tabs to drain, report."""
        await self.fleet.stats(reset=True)
        window = meter(self.server.pids["gateway"], self.fleet.pids, injector=[self.injector.pid],
                       redis=[self.redis.pid])  # fmt: skip
        began = time.monotonic()
        injected = await self.injector.run(rate, seconds)
        expected = {s: n * self.tabs for s, n in injected["published"].items()}
        await self.fleet.drain(sum(expected.values()))
        wall = time.monotonic() - began
        cpu = window.stop()
        stats = await self.fleet.stats(reset=True)
        report = delivery_report(stats, expected, cpu, wall)
        report.update(rate=rate, injected=injected["total"], injector_rate=injected["achieved_rate"],
                      publish_call_ms=injected["publish_call_ms"])  # fmt: skip
        return report


@contextlib.asynccontextmanager
async def rig(
    name: str, redis: Redis, workdir: Path, sessions: int, tabs: int, generators: int, pinned: bool = False
) -> AsyncIterator[Rig]:
    server = await targets.start(name, redis.url, workdir)
    fleet: Fleet | None = None
    injector: Injector | None = None
    try:
        ids = await server.create_sessions(sessions)
        fleet = Fleet(generators)
        injector = Injector(server.publisher, redis.url, ids)
        joined = await fleet.connect(server.dialect, server.port, [s for s in ids for _ in range(tabs)], server.token)
        if joined["failed"]:
            raise RuntimeError(f"{name}: {joined['failed']} tabs could not join: {joined['errors']}")
        if pinned:
            pin(server.pids["gateway"], SERVER_CPUS)
            pin([*fleet.pids, injector.pid, redis.pid], load_cpus())
        yield Rig(server, ids, fleet, injector, redis, tabs)
    finally:
        pin([redis.pid], set(range(os.cpu_count() or 1)))
        if fleet is not None:
            await fleet.close()
        if injector is not None:
            await injector.close()
        server.stop()
        redis.flush()


async def fixed(name: str, redis: Redis, workdir: Path, config: FixedConfig) -> dict[str, Any]:
    async with rig(name, redis, workdir, config.sessions, config.tabs, config.generators, config.pin) as running:
        if config.warmup_seconds:
            await running.step(config.rate, config.warmup_seconds)
        report = await running.step(config.rate, config.seconds)
        report["peak_rss_mib"] = peak_rss_mib(running.server.pids["gateway"][0])
        return report


def _failure(step: dict[str, Any], config: LadderConfig) -> str | None:
    if step["lost"] or step["disconnects"]:
        return f"lost {step['lost']} events, {step['disconnects']} sockets dropped"
    if step["latency_ms"]["p99"] > config.p99_limit_ms:
        return f"p99 {step['latency_ms']['p99']} ms > {config.p99_limit_ms:.0f} ms"
    if step["injector_rate"] < 0.9 * step["rate"]:
        return f"injector reached only {step['injector_rate']}/s"
    return None


def _bound(step: dict[str, Any]) -> str:
    """Which side ran out of CPU first, judged from the pinned cores."""
    server, load = step["server_core_busy_pct"], step["load_cores_busy_pct"]
    if server >= 90 and server >= load:
        return "server"
    if load >= 90:
        return "load generation"
    return "neither core saturated"


async def ladder(name: str, redis: Redis, workdir: Path, config: LadderConfig) -> dict[str, Any]:
    steps: list[dict[str, Any]] = []
    good: float | None = None
    bad: float | None = None
    rate = config.start_rate
    while len(steps) < config.max_steps:
        async with rig(name, redis, workdir, config.sessions, config.tabs, config.generators, config.pin) as running:
            while len(steps) < config.max_steps:
                step = await running.step(rate, config.seconds)
                step["failure"] = _failure(step, config)
                if step["failure"] and step["failure"].startswith("p99"):  # a latency spike: one more try
                    step = await running.step(rate, config.seconds)
                    step["failure"] = _failure(step, config)
                    step["retried"] = True
                step["bound"] = _bound(step)
                steps.append(step)
                if step["failure"] is None:
                    good = rate
                else:
                    bad = rate
                rate = _next_rate(good, bad, config)
                if rate is None or step["lost"] or step["disconnects"]:
                    break  # a rig that lost sockets or events is rebuilt before the next step
        if rate is None:
            break
    passing = [s for s in steps if s["failure"] is None]
    best = max(passing, key=lambda s: s["delivered_per_s"], default=None)
    first_failure = next((s["failure"] for s in steps if s["failure"]), None)
    return {
        "saturation_delivered_per_s": best["delivered_per_s"] if best else 0.0,
        "gateway_capacity_per_s": round(1e6 / best["gateway_us_per_event"]) if best else None,
        "saturation_rate": best["rate"] if best else 0.0,
        "at_saturation": best,
        "stopped_by": first_failure,
        "bound": next((s["bound"] for s in steps if s["failure"]), None),
        "steps": [_brief(s) for s in steps],
    }


def _next_rate(good: float | None, bad: float | None, config: LadderConfig) -> float | None:
    if bad is None:  # doubling while steps pass
        rate = (good or config.start_rate) * 2
        return rate if rate <= config.max_rate else None
    if good is None:  # even the first rate failed: halve
        rate = bad / 2
        return rate if rate >= config.start_rate / 8 else None
    if (bad - good) / bad <= config.resolution:
        return None
    return (good + bad) / 2


def _brief(step: dict[str, Any]) -> dict[str, Any]:
    keys = ("rate", "injector_rate", "delivered_per_s", "lost", "disconnects", "gateway_us_per_event",
            "gateway_cpu_pct", "generator_cpu_pct_max", "injector_cpu_pct", "redis_cpu_pct", "server_core_busy_pct",
            "load_cores_busy_pct", "steal_pct", "other_cpu_pct", "failure", "bound", "retried")  # fmt: skip
    return {key: step.get(key) for key in keys} | {"p99_ms": step["latency_ms"]["p99"]}
