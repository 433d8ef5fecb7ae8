"""Runs → the results table (median, min–max) and the targets as ratios, in Markdown."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .measure import summary

Pick = Callable[[dict[str, Any]], Any]


def _get(path: str) -> Pick:
    def pick(results: dict[str, Any]) -> Any:
        value: Any = results
        for key in path.split("."):
            if not isinstance(value, dict) or key not in value or value[key] is None:
                return None
            value = value[key]
        return value

    return pick


# (label, workload.path, digits)
ROWS: list[tuple[str, str, int]] = [
    ("**fan-out 100 × 2 tabs, 2,000 events/s**", "", 0),
    ("gateway CPU per delivered event (µs) ← headline", "fixed.gateway_us_per_event", 1),
    ("delivered events/s", "fixed.delivered_per_s", 0),
    ("latency publish → tab p50 (ms)", "fixed.latency_ms.p50", 2),
    ("latency p99 (ms)", "fixed.latency_ms.p99", 2),
    ("latency max (ms)", "fixed.latency_ms.max", 1),
    ("lost events", "fixed.lost", 0),
    ("gateway CPU (% of one core)", "fixed.gateway_cpu_pct", 1),
    ("gateway peak RSS (MiB)", "fixed.peak_rss_mib", 1),
    ("load generator CPU, busiest process (%)", "fixed.generator_cpu_pct_max", 1),
    ("injector CPU (%)", "fixed.injector_cpu_pct", 1),
    ("injector's publish call p99 (ms)", "fixed.publish_call_ms.p99", 2),
    ("machine CPU outside the measured processes (% of a core)", "fixed.other_cpu_pct", 0),
    ("**saturation ladder 10 × 10 tabs**", "", 0),
    ("saturation throughput (delivered events/s)", "ladder.saturation_delivered_per_s", 0),
    ("gateway capacity: deliveries per gateway CPU-second there", "ladder.gateway_capacity_per_s", 0),
    ("gateway CPU per delivered event there (µs)", "ladder.at_saturation.gateway_us_per_event", 1),
    ("p99 there (ms)", "ladder.at_saturation.latency_ms.p99", 2),
    ("gateway CPU there (%)", "ladder.at_saturation.gateway_cpu_pct", 0),
    ("server core (CPU 0) busy there (%)", "ladder.at_saturation.server_core_busy_pct", 0),
    ("load core (CPU 1: injector, Redis, generators) busy there (%)", "ladder.at_saturation.load_cores_busy_pct", 0),
    ("**idle 2,000 sockets on 1,000 sessions**", "", 0),
    ("RSS per idle connection (KiB)", "idle.kib_per_connection", 1),
    ("joins/s while connecting (200 joins in flight)", "idle.joins_per_s", 0),
    ("join time p99, connect to join reply (ms)", "idle.join_ms.p99", 0),
    ("joins refused or timed out", "idle.failed", 0),
    ("gateway CPU while idle (%)", "idle.idle_cpu_pct", 2),
    ("gateway RSS with 2,100 sockets (MiB)", "idle.rss_after_mib", 1),
    ("**reconnect storm: every tab drops and rejoins with `since`**", "", 0),
    ("tabs (sessions × tabs)", "joins.tabs", 0),
    ("joins/s during the storm (200 in flight)", "joins.joins_per_s", 0),
    ("join time p50, connect to join reply (ms)", "joins.join_ms.p50", 0),
    ("join time p99 (ms)", "joins.join_ms.p99", 0),
    ("time until every tab is joined (s)", "joins.all_joined_s", 1),
    ("time until every tab has an event again (s)", "joins.all_streaming_s", 1),
    ("gateway CPU per join (ms)", "joins.gateway_ms_per_join", 2),
    ("joins/s at the first connect (no `since`; 2,000 new sessions × 5 tabs)", "joins.first_joins_per_s", 0),
    ("join time p99 at the first connect (ms)", "joins.first_join_ms.p99", 0),
    ("gateway CPU per join at the first connect (ms)", "joins.first_gateway_ms_per_join", 2),
    ("rejoins that resumed from the log (recovered)", "joins.recovered", 0),
    ("seq gaps + duplicates across the rejoin", "joins.gaps", 0),
    ("**time to first token: 33 generation starts/s, 1 worker**", "", 0),
    ("POST accepted → upstream request, p50 (ms)", "ttft.accepted_to_upstream_ms.p50", 1),
    ("POST accepted → upstream request, p99 (ms)", "ttft.accepted_to_upstream_ms.p99", 1),
    ("… p99 without the first second (the worker's warm-up) (ms)", "ttft.accepted_to_upstream_steady_ms.p99", 1),
    ("POST sent → 202 accepted, p50 (ms)", "ttft.post_accept_ms.p50", 1),
    ("POST sent → first chunk at the tab, p50 (ms)", "ttft.first_chunk_ms.p50", 1),
    ("POST sent → first chunk at the tab, p99 (ms)", "ttft.first_chunk_ms.p99", 1),
    ("the upstream read directly: POST → first chunk, p50 (ms)", "ttft.direct_first_chunk_ms.p50", 1),
    ("the upstream read directly: POST → first chunk, p99 (ms)", "ttft.direct_first_chunk_ms.p99", 1),
    ("worker CPU per generation (start, 10 chunks, end) (ms)", "ttft.worker_ms_per_generation", 2),
    ("gateway CPU per generation (POST, 10 chunks to 1 tab) (ms)", "ttft.gateway_ms_per_generation", 2),
    ("**a 4 MiB answer (2 KiB chunks)**", "", 0),
    ("Redis µs per publish, first 256 chunks", "long.redis_us_per_publish_start", 1),
    ("Redis µs per publish, last 256 chunks", "long.redis_us_per_publish_end", 1),
    ("end ÷ start", "long.end_over_start", 2),
    ("**e2e with one worker process: 100 generations × 2 tabs × 20 chunks/s**", "", 0),
    ("latency upstream emit → tab p50 (ms)", "e2e-1w.latency_ms.p50", 2),
    ("latency p99 (ms)", "e2e-1w.latency_ms.p99", 2),
    ("p99 without the first and last second (ms)", "e2e-1w.latency_ms_steady.p99", 2),
    ("worker CPU per chunk (µs)", "e2e-1w.worker_us_per_chunk", 0),
    ("Redis CPU per chunk (µs)", "e2e-1w.redis_us_per_chunk", 1),
    ("… of which in the scripts, per `INFO commandstats` (µs)", "e2e-1w.script_us_per_chunk", 1),
    ("machine CPU outside the measured processes (% of a core)", "e2e-1w.other_cpu_pct", 0),
    ("lost events", "e2e-1w.lost", 0),
    ("**overload: 400 generations at once on 1 worker (WORKER_CONCURRENCY=400), 8,000 chunks/s offered**", "", 0),
    ("generations that did not end `success`", "overload.failed_generations", 0),
    ("latency upstream emit → tab p50 (ms)", "overload.latency_ms.p50", 1),
    ("latency p99 (ms)", "overload.latency_ms.p99", 1),
    ("worker CPU (% of one core)", "overload.workers_cpu_pct", 0),
    ("lost events", "overload.lost", 0),
    ("**e2e 100 generations × 2 tabs × 20 chunks/s**", "", 0),
    ("latency upstream emit → tab p50 (ms)", "e2e.latency_ms.p50", 2),
    ("latency p99 (ms)", "e2e.latency_ms.p99", 2),
    ("latency max (ms)", "e2e.latency_ms.max", 1),
    ("p99 without the first and last second (all generations start / end) (ms)", "e2e.latency_ms_steady.p99", 2),
    ("worker CPU per chunk (µs)", "e2e.worker_us_per_chunk", 0),
    ("Redis CPU per chunk (µs)", "e2e.redis_us_per_chunk", 1),
    ("… of which in the scripts, per `INFO commandstats` (µs)", "e2e.script_us_per_chunk", 1),
    ("chunks/s per worker process (measured)", "e2e.chunks_per_s_per_worker", 0),
    ("worker capacity at 100% CPU (chunks/s per process)", "e2e.worker_capacity_chunks_per_s", 0),
    ("gateway CPU per delivered event (µs)", "e2e.gateway_us_per_event", 1),
    ("both workers' CPU (% of one core)", "e2e.workers_cpu_pct", 0),
    ("machine busy, both cores (%)", "e2e.machine_busy_pct", 0),
    ("lost events", "e2e.lost", 0),
    ("**e2e light: 20 generations × 2 tabs × 20 chunks/s**", "", 0),
    ("latency upstream emit → tab p50 (ms)", "e2e-light.latency_ms.p50", 2),
    ("latency p99 (ms)", "e2e-light.latency_ms.p99", 2),
    ("worker CPU per chunk (µs)", "e2e-light.worker_us_per_chunk", 0),
    ("lost events", "e2e-light.lost", 0),
    ("**soak: generations at a steady rate (opt in: `--workloads soak`)**", "", 0),
    ("generations posted", "soak.generations_posted", 0),
    ("gateway RSS, end ÷ after warm-up", "soak.gateway_rss_growth", 3),
    ("Redis used_memory, end ÷ after warm-up", "soak.redis_used_growth", 3),
    ("seq gaps", "soak.gaps", 0),
]


def _values(runs: list[dict[str, Any]], target: str, path: str) -> list[float]:
    pick = _get(path)
    values = [pick(run["targets"].get(target, {})) for run in runs]
    return [v for v in values if isinstance(v, int | float)]


def _cell(values: list[float], digits: int) -> str:
    stats = summary(values)
    if stats is None:
        return "–"
    fmt = f"{{:,.{digits}f}}"
    median = fmt.format(stats["median"])
    if len(values) == 1 or stats["min"] == stats["max"]:
        return median
    return f"{median} ({fmt.format(stats['min'])}–{fmt.format(stats['max'])})"


def median(runs: list[dict[str, Any]], target: str, path: str) -> float | None:
    stats = summary(_values(runs, target, path))
    return stats["median"] if stats else None


def table(runs: list[dict[str, Any]], targets: list[str]) -> str:
    lines = ["| metric | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for label, path, digits in ROWS:
        if not path:
            lines.append(f"| {label} |" + " |" * len(targets))
            continue
        lines.append(f"| {label} | " + " | ".join(_cell(_values(runs, t, path), digits) for t in targets) + " |")
    return "\n".join(lines)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def goals(runs: list[dict[str, Any]]) -> str:
    """The targets of issues 5 and 13, from the medians."""
    m = median
    checks = [
        ("gateway CPU per delivered event ≤ 1.25 × raw relay",
         _ratio(m(runs, "streamrelay", "fixed.gateway_us_per_event"), m(runs, "raw", "fixed.gateway_us_per_event")),
         "×", lambda r: r <= 1.25),
        ("gateway CPU per delivered event ≤ 1/5 of python-socketio",
         _ratio(m(runs, "streamrelay", "fixed.gateway_us_per_event"),
                m(runs, "socketio", "fixed.gateway_us_per_event")), "×", lambda r: r <= 0.2),
        ("fan-out saturation throughput ≥ 0.8 × raw relay, as measured (bound by load generation, see below)",
         _ratio(m(runs, "streamrelay", "ladder.saturation_delivered_per_s"),
                m(runs, "raw", "ladder.saturation_delivered_per_s")), "×", lambda r: r >= 0.8),
        ("… the same as gateway capacity (deliveries per gateway CPU-second)",
         _ratio(m(runs, "streamrelay", "ladder.gateway_capacity_per_s"),
                m(runs, "raw", "ladder.gateway_capacity_per_s")),
         "×", lambda r: r >= 0.8),
        ("p99 at the fixed rate ≤ 2 × raw relay",
         _ratio(m(runs, "streamrelay", "fixed.latency_ms.p99"), m(runs, "raw", "fixed.latency_ms.p99")),
         "×", lambda r: r <= 2.0),
        ("RSS per idle connection ≤ 20 KiB", m(runs, "streamrelay", "idle.kib_per_connection"), " KiB",
         lambda v: v <= 20),
        ("e2e p99 ≤ 10 ms (100 generations × 2 tabs × 20 chunks/s)", m(runs, "streamrelay", "e2e.latency_ms.p99"),
         " ms", lambda v: v <= 10),
        ("joins ≥ 1,000/s in the reconnect storm (200 in flight)", m(runs, "streamrelay", "joins.joins_per_s"),
         "/s", lambda v: v >= 1000),
        ("… on PostgreSQL", m(runs, "streamrelay-pg", "joins.joins_per_s"), "/s", lambda v: v >= 1000),
        ("join p99 ≤ 200 ms in the storm", m(runs, "streamrelay", "joins.join_ms.p99"), " ms", lambda v: v <= 200),
        ("joins/s in the storm, × raw relay (same run)",
         _ratio(m(runs, "streamrelay", "joins.joins_per_s"), m(runs, "raw", "joins.joins_per_s")), "×",
         lambda r: r >= 0.5),
        ("gateway CPU per join, × raw relay (same run)",
         _ratio(m(runs, "streamrelay", "joins.gateway_ms_per_join"), m(runs, "raw", "joins.gateway_ms_per_join")),
         "×", lambda r: r <= 2.0),
        ("POST accepted → upstream request p50 ≤ 5 ms", m(runs, "streamrelay", "ttft.accepted_to_upstream_ms.p50"),
         " ms", lambda v: v <= 5),
        ("POST accepted → upstream request p99 ≤ 20 ms", m(runs, "streamrelay", "ttft.accepted_to_upstream_ms.p99"),
         " ms", lambda v: v <= 20),
        ("… without the first second (warm-up)", m(runs, "streamrelay", "ttft.accepted_to_upstream_steady_ms.p99"),
         " ms", lambda v: v <= 20),
        ("worker CPU ≤ 100 µs per chunk (1 worker, 100 × 20 chunks/s)",
         m(runs, "streamrelay", "e2e-1w.worker_us_per_chunk"), " µs", lambda v: v <= 100),
        ("Redis CPU ≤ 20 µs per chunk (e2e, 100 × 20 chunks/s)", m(runs, "streamrelay", "e2e.redis_us_per_chunk"),
         " µs", lambda v: v <= 20),
        ("e2e relay-added p99 ≤ 5 ms with 1 worker", m(runs, "streamrelay", "e2e-1w.latency_ms.p99"), " ms",
         lambda v: v <= 5),
        ("Redis per publish at the end of a 4 MiB answer ≤ 1.5 × at its start",
         m(runs, "streamrelay", "long.end_over_start"), "×", lambda v: v <= 1.5),
    ]  # fmt: skip
    lines = ["| target | streamrelay (median) | met |", "|---|---|---|"]
    for label, value, unit, ok in checks:
        shown = "–" if value is None else f"{value:.2f}{unit}"
        verdict = "–" if value is None else ("yes" if ok(value) else "**no**")
        lines.append(f"| {label} | {shown} | {verdict} |")
    return "\n".join(lines)


def conditions(runs: list[dict[str, Any]]) -> str:
    """Steal and load-generator headroom per run: the flags that say a run is suspect."""
    lines = []
    for i, run in enumerate(runs, 1):
        windows = [(t, w, r) for t, results in run["targets"].items() for w, r in results.items()]
        steal = max((r.get("steal_pct") or 0 for _, _, r in windows), default=0)
        flags = [f"{t}/{w}: steal {r['steal_pct']}%" for t, w, r in windows if (r.get("steal_pct") or 0) > 10]
        redone = [f"{t}/{w} ×{r['redone']}" for t, w, r in windows if r.get("redone")]
        flags += [f"{t}/{w}: load generator at {r['generator_cpu_pct_max']}% of a core"
                  for t, w, r in windows if (r.get("generator_cpu_pct_max") or 0) > 80]  # fmt: skip
        flags += [f"{t}/{w}: {r['error']}" for t, w, r in windows if r.get("error")]
        flags += [f"{t}/{w}: other load {r['other_cpu_pct']}% of a core"
                  for t, w, r in windows if (r.get("other_cpu_pct") or 0) > 50]  # fmt: skip
        line = f"- run {i}: max steal {steal}%"
        line += f"; measured again for steal over 10%: {', '.join(redone)}" if redone else ""
        lines.append(line + (f" — FLAGGED: {'; '.join(flags)}" if flags else ""))
    return "\n".join(lines)


def ladders(runs: list[dict[str, Any]]) -> str:
    """How each ladder ended: which rate failed, why, and which side was out of CPU."""
    lines = []
    for i, run in enumerate(runs, 1):
        for target, results in run["targets"].items():
            ladder = results.get("ladder")
            if not ladder or "error" in ladder:
                continue
            steps = ", ".join(f"{s['rate']:.0f}{'✓' if not s['failure'] else '✗'}" for s in ladder["steps"])
            lines.append(f"- run {i} {target}: {steps}; stopped by {ladder['stopped_by']} ({ladder['bound']})")
    return "\n".join(lines)


def soaks(runs: list[dict[str, Any]]) -> str:
    """Each soak's samples: RSS of the gateway and workers and Redis's used memory, minute by minute."""
    lines = []
    for i, run in enumerate(runs, 1):
        for target, results in run["targets"].items():
            soak = results.get("soak")
            if not soak or "error" in soak:
                continue
            lines.append(f"- run {i} {target} (t s: gateway MiB / workers MiB / Redis MiB / generations ended):")
            lines += [f"  - {s['t_s']}: {s['gateway_rss_mib']} / {s['workers_rss_mib']} / {s['redis_used_mib']}"
                      f" / {s['generations_ended']}" for s in soak["samples"]]  # fmt: skip
    return "\n".join(lines)


def redis_commands(runs: list[dict[str, Any]]) -> str:
    """Each e2e window's busiest Redis commands: calls per chunk and µs per call (`INFO commandstats`)."""
    lines = []
    for i, run in enumerate(runs, 1):
        for target, results in run["targets"].items():
            for workload in ("e2e", "e2e-1w", "e2e-light"):
                commands = (results.get(workload) or {}).get("redis_commands")
                if commands:
                    shown = ", ".join(f"{name} {c['calls_per_chunk']:g}×{c['us_per_call']:g} µs"
                                      for name, c in commands.items())  # fmt: skip
                    lines.append(f"- run {i} {target} {workload}: {shown}")
    return "\n".join(lines)


def render(runs: list[dict[str, Any]], targets: list[str], command: str) -> str:
    return "\n\n".join([
        f"Results of `{command}`: {len(runs)} run(s); median (min–max).",
        table(runs, targets),
        "Targets (ratios of medians):",
        goals(runs),
        "Saturation ladders (events/s injected; ✓ passed, ✗ failed; which core was saturated):",
        ladders(runs),
        "Redis commands per chunk in the e2e windows (calls per chunk × µs per call; a script's inner commands "
        "are counted in it and again under their own names):",
        redis_commands(runs) or "- none run",
        "Soaks:",
        soaks(runs) or "- none run",
        "Run conditions:",
        conditions(runs),
    ])  # fmt: skip
