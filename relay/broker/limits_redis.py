"""Per-user limits across gateways, in Redis: one script call per token taken or slot held.

The calls of many writes at once share pipelines through a `ScriptBatcher`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from .batcher import ScriptBatcher
from .limits import Limits

SCRIPT = (Path(__file__).with_name("limits.lua")).read_text()
T = TypeVar("T")
# Slots renewed per script call: a gateway's thousands of sockets are kept in slices, so that no one call
# holds Redis (or this event loop) for long; 9,000 slots in one call held Redis for ~60 ms.
KEEP_SLOTS_PER_CALL = 500


class RedisLimits(Limits):
    """`call` runs a Redis command with the broker's retry and error translation."""

    def __init__(self, redis: Any, call: Callable[[Callable[[], Awaitable[T]]], Awaitable[T]], cluster: bool) -> None:
        self.calls = ScriptBatcher(redis, SCRIPT, call, pipelined=not cluster, name="limits")

    async def open(self) -> None:
        """Connect the batcher's own connection now rather than on the first call."""
        await self.calls.open()

    async def close(self) -> None:
        await self.calls.close()

    async def take(self, bucket: str, per_second: float, burst: int) -> float:
        return int(await self.calls.call([1, bucket, "take", per_second, burst])) / 1000

    async def hold(self, holder: str, slot: str, limit: int, ttl: float) -> bool:
        return bool(await self.calls.call([1, holder, "hold", limit, slot, _ms(ttl)]))

    async def keep(self, holders: dict[str, dict[str, float]]) -> None:
        slots = [(holder, slot, ttl) for holder, ttls in holders.items() for slot, ttl in ttls.items()]
        for start in range(0, len(slots), KEEP_SLOTS_PER_CALL):
            batch: dict[str, list[Any]] = {}
            for holder, slot, ttl in slots[start : start + KEEP_SLOTS_PER_CALL]:
                batch.setdefault(holder, [1, holder, "keep"]).extend((slot, _ms(ttl)))
            for result in await self.calls.call_many(list(batch.values())):
                if isinstance(result, BaseException):
                    raise result

    async def free(self, holder: str, slot: str) -> None:
        await self.calls.call([1, holder, "free", slot])


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
