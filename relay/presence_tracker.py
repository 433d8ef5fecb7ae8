"""This gateway's tabs in presence: added on join, kept alive while they show life, removed on leave.

A tab is kept alive for `ttl` seconds past the last frame its client sent
(phoenix.js heartbeats every 30 s), so a tab that vanished without leaving —
its connection dead but not closed, or its gateway gone — expires within
`ttl` and is reaped within one `interval` more by any gateway with tabs in the
session. With the defaults (45 s, 10 s) that is under 60 s.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schema.presence_codec import PRESENCE_DIFF, Presences

from .broker.base import BrokerUnavailable
from .broker.log import unique_id
from .broker.presence import PresenceStore
from .serializer import Serializer

logger = logging.getLogger(__name__)

TTL_SECONDS = 45.0
INTERVAL_SECONDS = 10.0  # one pipelined Redis round trip per gateway per interval


class PresenceDiff:
    """A presence diff on its way to this process's tabs of a session; frames are encoded on first use."""

    __slots__ = ("diff", "frames", "topic")

    def __init__(self, topic: str, diff: dict[str, Presences]) -> None:
        self.topic = topic
        self.diff = diff
        self.frames: dict[Serializer, bytes] = {}

    def frame(self, serializer: Serializer) -> bytes:
        frame = self.frames.get(serializer)
        if frame is None:
            frame = self.frames[serializer] = serializer.encode(None, None, self.topic, PRESENCE_DIFF, self.diff)
        return frame


@dataclass(frozen=True, slots=True)
class Tab:
    session_id: str
    user_id: str
    meta: dict[str, Any]
    last_heard: Callable[[], float]  # time.monotonic() of the client's last frame


class PresenceTracker:
    def __init__(self, store: PresenceStore, ttl: float = TTL_SECONDS, interval: float = INTERVAL_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
        self.interval = interval
        self.tabs: dict[str, Tab] = {}  # phx_ref -> tab
        self.leaves: list[tuple[str, Tab]] = []  # tabs that left, to remove from the store
        self.leaver: asyncio.Task[None] | None = None

    async def join(
        self, session_id: str, user_id: str, name: str | None, last_heard: Callable[[], float]
    ) -> tuple[str, Presences]:
        """Add a tab; returns its phx_ref and the session's presence_state (this tab included)."""
        ref = unique_id()
        meta: dict[str, Any] = {"phx_ref": ref, "joined_at": datetime.now(UTC).isoformat()}
        if name:
            meta["name"] = name
        self.tabs[ref] = Tab(session_id, user_id, meta, last_heard)
        try:
            return ref, await self.store.track(session_id, ref, user_id, meta, self.ttl)
        except BaseException:
            self.tabs.pop(ref, None)
            raise

    def leave(self, ref: str) -> None:
        tab = self.tabs.pop(ref, None)
        if tab is not None:
            self.leaves.append((ref, tab))
            if self.leaver is None:  # one task removes every tab that leaves meanwhile, not one task each
                self.leaver = asyncio.create_task(self._untrack_leaves(), name="presence leaves")

    async def _untrack_leaves(self) -> None:
        try:
            while self.leaves:
                leaves, self.leaves = self.leaves, []
                tabs = [(tab.session_id, ref, tab.user_id, tab.meta) for ref, tab in leaves]
                for (ref, _), ended in zip(leaves, await self.store.untrack_many(tabs), strict=True):
                    if isinstance(ended, BrokerUnavailable):
                        logger.warning("presence: %s stays until it expires: %s", ref, ended)
                    elif ended is not None:
                        logger.error("presence: removing %s failed", ref, exc_info=ended)
        finally:
            self.leaver = None

    async def run(self) -> None:
        """Refresh and reap every `interval` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except BrokerUnavailable as exc:
                logger.warning("presence: refresh failed, retrying in %g s: %s", self.interval, exc)

    async def tick(self) -> None:
        now = time.monotonic()
        sessions: dict[str, dict[str, float]] = {}
        for ref, tab in list(self.tabs.items()):
            sessions.setdefault(tab.session_id, {})[ref] = self.ttl - (now - tab.last_heard())
        if sessions:
            await self.store.keep(sessions)
