"""Per-user limits, the broker's part: token buckets and socket slots shared by every gateway.

A bucket holds up to `burst` tokens and refills at `per_second`; a write takes
one, and an empty bucket says how long until the next. A user's sockets hold
slots, each with an expiry its gateway keeps pushing back while the socket
lives, so the slots of a gateway that vanished free themselves. Memory and
Redis implement it and pass one contract suite (`tests/test_limits_store.py`).
"""

from __future__ import annotations

import abc


class Limits(abc.ABC):
    @abc.abstractmethod
    async def take(self, bucket: str, per_second: float, burst: int) -> float:
        """Take a token from `bucket`: 0.0 when one was taken, else the seconds until one will be there."""

    @abc.abstractmethod
    async def hold(self, holder: str, slot: str, limit: int, ttl: float) -> bool:
        """Give `slot` one of `holder`'s `limit` slots for `ttl` seconds; False when all are taken."""

    @abc.abstractmethod
    async def keep(self, holders: dict[str, dict[str, float]]) -> None:
        """For each holder: give the slots it still has the seconds named for each (freed ones stay free)."""

    @abc.abstractmethod
    async def free(self, holder: str, slot: str) -> None:
        """Give a slot back; nothing if it had expired."""
