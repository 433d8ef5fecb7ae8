"""What Redis spends per published chunk: its process CPU and `INFO commandstats`, over one window.

`INFO commandstats` counts a script's call once (`evalsha`) and the commands it runs
inside (`xadd`, `publish`, `hset`, …) again under their own names, so the usec of the
inner commands are part of the script's: `script_us_per_chunk` is Redis's time in
the scripts per chunk (the publish script's, and the position script's for joins), and
`redis_us_per_chunk` is the process CPU, which also covers reading and writing sockets
(pub/sub delivery to the gateways included) and every other command.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis

SCRIPTS = ("evalsha", "eval", "fcall", "evalsha_ro", "eval_ro", "fcall_ro")


async def reset(url: str) -> None:
    async with redis.Redis.from_url(url) as admin:
        await admin.config_resetstat()


async def read(url: str) -> dict[str, dict[str, float]]:
    """{command: {"calls", "usec"}} since the last `reset` (`INFO commandstats`, `cmdstat_` dropped)."""
    async with redis.Redis.from_url(url) as admin:
        stats = await admin.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): {"calls": int(s["calls"]), "usec": float(s["usec"])}
        for name, s in stats.items()
        if name.startswith("cmdstat_")
    }


def per_chunk(stats: dict[str, dict[str, float]], redis_cpu_s: float, chunks: int, top: int = 12) -> dict[str, Any]:
    """Redis's cost per chunk published, and the commands behind it (calls per chunk, µs per call)."""
    scripts = sum(s["usec"] for name, s in stats.items() if name in SCRIPTS)
    commands = {
        name: {
            "calls": int(s["calls"]),
            "calls_per_chunk": round(s["calls"] / chunks, 3),
            "us_per_call": round(s["usec"] / s["calls"], 2) if s["calls"] else 0.0,
            "us_per_chunk": round(s["usec"] / chunks, 2),
        }
        for name, s in sorted(stats.items(), key=lambda item: -item[1]["usec"])[:top]
    }
    return {
        "redis_us_per_chunk": round(1e6 * redis_cpu_s / chunks, 1),
        "script_us_per_chunk": round(scripts / chunks, 1),
        "redis_commands": commands,
    }
