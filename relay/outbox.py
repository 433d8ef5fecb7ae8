"""A bounded queue of outgoing frames, by size: what a slow client may cost us, at most."""

from __future__ import annotations

import asyncio
from collections import deque


class Outbox:
    """Frames waiting to be written to one client.

    `put` never blocks: past `limit` bytes it refuses, and the owner cuts the
    client off instead of letting memory grow.
    """

    __slots__ = ("frames", "limit", "ready", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.frames: deque[bytes] = deque()
        self.size = 0
        self.ready: asyncio.Event | None = None  # made by the first `take` that has to wait

    def __len__(self) -> int:
        return len(self.frames)

    def put(self, frame: bytes) -> bool:
        if self.size + len(frame) > self.limit:
            return False
        self.frames.append(frame)
        self.size += len(frame)
        if self.ready is not None:
            self.ready.set()
        return True

    def pop(self) -> bytes:
        """The oldest frame, its room freed: for a writer that hands it on at once."""
        frame = self.frames.popleft()
        self.size -= len(frame)
        return frame

    async def take(self) -> bytes:
        """Wait for the oldest frame; its room stays taken until `done`."""
        while not self.frames:
            if self.ready is None:
                self.ready = asyncio.Event()
            self.ready.clear()
            await self.ready.wait()
        return self.frames.popleft()

    def done(self, frame: bytes) -> None:
        """The frame taken last has been written: its room is free again."""
        self.size -= len(frame)

    def clear(self) -> None:
        self.frames.clear()
        self.size = 0
