"""A bounded queue of outgoing frames, by size: what a slow client may cost us, at most."""

from __future__ import annotations

import asyncio
from collections import deque


class Outbox:
    """Frames waiting to be written to one client.

    `put` never blocks: past `limit` characters it refuses, and the owner cuts
    the client off instead of letting memory grow.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.frames: deque[str] = deque()
        self.size = 0
        self.ready = asyncio.Event()

    def put(self, frame: str) -> bool:
        if self.size + len(frame) > self.limit:
            return False
        self.frames.append(frame)
        self.size += len(frame)
        self.ready.set()
        return True

    async def take(self) -> str:
        while not self.frames:
            self.ready.clear()
            await self.ready.wait()
        return self.frames.popleft()

    def done(self, frame: str) -> None:
        """The frame taken last has been written: its room is free again."""
        self.size -= len(frame)

    def clear(self) -> None:
        self.frames.clear()
        self.size = 0
