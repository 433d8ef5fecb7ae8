"""Turning raw counts, samples and CPU seconds into the numbers the report shows."""

from __future__ import annotations

import os
import statistics
from typing import Any

from .procfs import Meter, memory_kib
from .tabs import Stats


def percentiles_ms(samples: list[float]) -> dict[str, float | int]:
    if not samples:
        return {"n": 0, "p50": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(samples)

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"n": len(ordered), "p50": at(0.50), "p99": at(0.99), "max": round(1000 * ordered[-1], 2)}


def steady_latencies(stats: Stats, margin: float) -> list[float]:
    """The samples sent at least `margin` seconds after the first one and before the last one."""
    if not stats.sent:
        return []
    start, end = min(stats.sent) + margin, max(stats.sent) - margin
    return [latency for sent, latency in zip(stats.sent, stats.latencies, strict=True) if start <= sent <= end]


def lost(stats: Stats, expected_per_session: dict[str, int]) -> int:
    """Events some tab of the session should have received and did not (duplicates never make up for them)."""
    return sum(max(0, expected - stats.per_session.get(s, 0)) for s, expected in expected_per_session.items())


def meter(gateway: list[int], generators: list[int], **others: list[int]) -> Meter:
    named = {"gateway": gateway, **others}
    named.update({f"generator{i}": [pid] for i, pid in enumerate(generators)})
    return Meter(named)


def delivery_report(stats: Stats, expected: dict[str, int], cpu: dict[str, float], wall: float) -> dict[str, Any]:
    """What every workload that pushes events to tabs reports."""
    delivered = stats.received
    generators = [seconds for name, seconds in cpu.items() if name.startswith("generator")]
    report: dict[str, Any] = {
        "delivered": delivered,
        "expected": sum(expected.values()),
        "lost": lost(stats, expected),
        "gaps": stats.gaps,
        "duplicates": stats.duplicates,
        "disconnects": stats.disconnects,
        "errors": stats.errors[:5],
        "wall_s": round(wall, 3),
        "delivered_per_s": round(delivered / wall, 1) if wall else 0.0,
        "latency_ms": percentiles_ms(stats.latencies),
        "gateway_us_per_event": round(1e6 * cpu["gateway"] / delivered, 2) if delivered else None,
        "gateway_cpu_pct": round(100 * cpu["gateway"] / wall, 1),
        "generator_cpu_pct_max": round(100 * max(generators, default=0.0) / wall, 1),
        "cpu_s": cpu,
        "steal_pct": cpu["steal_pct"],
        "machine_busy_pct": cpu["machine_busy_pct"],
        "server_core_busy_pct": cpu["server_core_busy_pct"],
        "load_cores_busy_pct": cpu["load_cores_busy_pct"],
    }
    for name in ("injector", "redis", "workers", "upstream"):
        if name in cpu:
            report[f"{name}_cpu_pct"] = round(100 * cpu[name] / wall, 1)
    report["other_cpu_pct"] = other_cpu_pct(cpu, wall)
    return report


def other_cpu_pct(cpu: dict[str, float], wall: float) -> float:
    """Machine CPU not used by the processes measured (kernel softirq for loopback, other people's jobs)."""
    ours = sum(seconds for name, seconds in cpu.items() if not name.endswith("_pct"))
    machine = cpu["machine_busy_pct"] / 100 * (os.cpu_count() or 1) * wall
    return round(100 * max(0.0, machine - ours) / wall, 1)


def peak_rss_mib(pid: int) -> float:
    return round(memory_kib(pid).get("VmHWM", 0) / 1024, 1)


def summary(values: list[float]) -> dict[str, float] | None:
    """Median with min and max over runs."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
