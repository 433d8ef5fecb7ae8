"""Entries forgotten `ttl_seconds` after they were last put, as Redis expires a key: the memory broker's."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Expiring(Generic[K, V]):
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl_seconds = ttl_seconds
        self.entries: OrderedDict[K, tuple[float, V]] = OrderedDict()  # (expires, value), the soonest first

    def get(self, key: K) -> V | None:
        """The value, unless it expired (expired entries are forgotten on every read)."""
        now = time.monotonic()
        while self.entries and next(iter(self.entries.values()))[0] <= now:
            self.entries.popitem(last=False)
        entry = self.entries.get(key)
        return None if entry is None else entry[1]

    def put(self, key: K, value: V) -> None:
        """Keep `value` for another `ttl_seconds` from now."""
        self.entries[key] = (time.monotonic() + self.ttl_seconds, value)
        self.entries.move_to_end(key)
