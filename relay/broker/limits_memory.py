"""Per-user limits in one process (`streamrelay dev`, tests)."""

from __future__ import annotations

import time
from collections.abc import Callable

from .limits import Limits

SWEEP_AT = 10_000  # buckets kept before the full ones (the same as none) are dropped


class MemoryLimits(Limits):
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.buckets: dict[str, tuple[float, float, float]] = {}  # bucket -> (tokens, counted at, full at)
        self.holders: dict[str, dict[str, float]] = {}  # holder -> slot -> expires at

    async def take(self, bucket: str, per_second: float, burst: int) -> float:
        now = self.clock()
        tokens, at, _ = self.buckets.get(bucket, (burst, now, now))
        tokens = min(burst, tokens + max(0.0, now - at) * per_second)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / per_second
        if len(self.buckets) >= SWEEP_AT:
            self.buckets = {key: state for key, state in self.buckets.items() if state[2] > now}
        self.buckets[bucket] = (tokens, now, now + (burst - tokens) / per_second)
        return wait

    async def hold(self, holder: str, slot: str, limit: int, ttl: float) -> bool:
        slots = self._live(holder)
        if slot not in slots and len(slots) >= limit:
            return False
        slots[slot] = self.clock() + ttl
        return True

    async def keep(self, holders: dict[str, dict[str, float]]) -> None:
        now = self.clock()
        for holder, ttls in holders.items():
            slots = self._live(holder)
            for slot, ttl in ttls.items():
                if slot in slots:
                    slots[slot] = now + ttl
            if not slots:
                self.holders.pop(holder, None)

    async def free(self, holder: str, slot: str) -> None:
        slots = self.holders.get(holder, {})
        slots.pop(slot, None)
        if not slots:
            self.holders.pop(holder, None)

    def _live(self, holder: str) -> dict[str, float]:
        """The holder's slots not expired (the expired ones dropped)."""
        now = self.clock()
        slots = {slot: expires for slot, expires in self.holders.get(holder, {}).items() if expires > now}
        self.holders[holder] = slots
        return slots
