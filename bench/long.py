"""A long answer: what Redis spends per published chunk at its start and at its end.

One generation whose text grows to `answer_bytes` (4 MiB) in chunks of
`chunk_bytes`, published one after another through the workers' path
(`RedisBroker.publish`: the publish script appends to the log, updates the
in-flight snapshot and publishes). Redis's own time per publish is read from
`INFO commandstats` (the script's calls; the commands it runs inside are not
added again) over the first and the last `window` chunks, with Redis's process
CPU from /proc over the same windows. The Redis work per event must not
grow with the answer's length, so end ÷ start should be about 1.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis.asyncio as redis

from .measure import percentiles_ms
from .procfs import cpu_seconds
from .services import Redis

SCRIPT_COMMANDS = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_fcall", "cmdstat_evalsha_ro", "cmdstat_fcall_ro")


@dataclass(frozen=True)
class LongConfig:
    answer_bytes: int = 4 * 1024 * 1024
    chunk_bytes: int = 2048
    window: int = 256


async def long(redis_server: Redis, workdir: Path, config: LongConfig) -> dict[str, Any]:
    from relay.broker.redis import RedisBroker

    broker = RedisBroker(redis_server.url)
    admin = redis.Redis.from_url(redis_server.url)
    session_id, message_id = str(uuid.uuid4()), str(uuid.uuid4())
    chunks = max(config.answer_bytes // config.chunk_bytes, 2 * config.window)
    text = "x" * config.chunk_bytes
    try:
        await broker.event_log.publish(session_id, "message_processing", message_id, {"session_id": session_id})
        windows: dict[str, dict[str, Any]] = {}
        for position in range(chunks):
            if position in (0, chunks - config.window):
                name = "start" if position == 0 else "end"
                await admin.config_resetstat()
                began_cpu, durations = cpu_seconds(redis_server.pid), []
            began = time.perf_counter()
            await broker.event_log.publish(session_id, "streaming_chunk", message_id, {"content": text})
            durations.append(time.perf_counter() - began)
            if position in (config.window - 1, chunks - 1):
                windows[name] = await _window(admin, redis_server.pid, began_cpu, durations)
        await broker.event_log.publish(session_id, "new_message", message_id, {"message": {"id": message_id}})
        return {
            "answer_mib": round(chunks * config.chunk_bytes / 2**20, 2),
            "chunks": chunks,
            "chunk_bytes": config.chunk_bytes,
            "redis_us_per_publish_start": windows["start"]["redis_us_per_publish"],
            "redis_us_per_publish_end": windows["end"]["redis_us_per_publish"],
            "redis_cpu_us_per_publish_start": windows["start"]["redis_cpu_us_per_publish"],
            "redis_cpu_us_per_publish_end": windows["end"]["redis_cpu_us_per_publish"],
            "end_over_start": round(
                windows["end"]["redis_us_per_publish"] / max(windows["start"]["redis_us_per_publish"], 0.01), 2
            ),
            "publish_call_ms_start": windows["start"]["publish_call_ms"],
            "publish_call_ms_end": windows["end"]["publish_call_ms"],
        }
    finally:
        await broker.close()
        await admin.aclose()
        redis_server.flush()


async def _window(admin: redis.Redis, pid: int, began_cpu: float, durations: list[float]) -> dict[str, Any]:
    cpu = cpu_seconds(pid) - began_cpu
    stats = await admin.info("commandstats")
    scripts = [stats[name] for name in SCRIPT_COMMANDS if name in stats]
    calls = sum(s["calls"] for s in scripts) or len(durations)
    usec = sum(s["usec"] for s in scripts)
    return {
        "redis_us_per_publish": round(usec / calls, 1),
        "redis_cpu_us_per_publish": round(1e6 * cpu / len(durations), 1),
        "publish_call_ms": percentiles_ms(durations),
    }
