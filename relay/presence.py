"""This gateway's tabs in presence: added on join, kept alive while they show life, removed on leave.

A tab is kept alive for `ttl` seconds past the last frame its client sent
(phoenix.js heartbeats every 30 s), so a tab that vanished without leaving —
its connection dead but not closed, or its gateway gone — expires within
`ttl` and is reaped within one `interval` more by any gateway with tabs in the
session. With the defaults that is under 60 s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from schema.presence import Presences

from .broker.base import BrokerUnavailable, unique_id
from .broker.presence import PresenceStore

log = logging.getLogger(__name__)

TTL_SECONDS = 45.0
INTERVAL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Tab:
    session_id: str
    last_heard: Callable[[], float]  # loop time of the client's last frame


class PresenceTracker:
    def __init__(self, store: PresenceStore, ttl: float = TTL_SECONDS, interval: float = INTERVAL_SECONDS) -> None:
        self.store = store
        self.ttl = ttl
        self.interval = interval
        self.tabs: dict[str, Tab] = {}  # phx_ref -> tab
        self.leaving: set[asyncio.Task[None]] = set()

    async def join(
        self, session_id: str, user_id: str, name: str | None, last_heard: Callable[[], float]
    ) -> tuple[str, Presences]:
        """Add a tab; returns its phx_ref and the session's presence_state (this tab included)."""
        ref = unique_id()
        meta: dict[str, Any] = {"phx_ref": ref, "joined_at": datetime.now(UTC).isoformat()}
        if name:
            meta["name"] = name
        self.tabs[ref] = Tab(session_id, last_heard)
        await self.store.track(session_id, ref, user_id, meta, self.ttl)
        return ref, await self.store.list(session_id)

    def leave(self, ref: str) -> None:
        tab = self.tabs.pop(ref, None)
        if tab is not None:
            task = asyncio.create_task(self._untrack(tab.session_id, ref), name=f"presence leave {ref}")
            self.leaving.add(task)
            task.add_done_callback(self.leaving.discard)

    async def _untrack(self, session_id: str, ref: str) -> None:
        try:
            await self.store.untrack(session_id, ref)
        except BrokerUnavailable as exc:
            log.warning("presence: %s stays until it expires: %s", ref, exc)

    async def run(self) -> None:
        """Refresh and reap every `interval` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.tick()
            except BrokerUnavailable as exc:
                log.warning("presence: refresh failed, retrying in %g s: %s", self.interval, exc)

    async def tick(self) -> None:
        now = asyncio.get_running_loop().time()
        sessions: dict[str, dict[str, float]] = {}
        for ref, tab in list(self.tabs.items()):
            sessions.setdefault(tab.session_id, {})[ref] = self.ttl - (now - tab.last_heard())
        for session_id, ttls in sessions.items():
            await self.store.refresh(session_id, ttls)
            await self.store.reap(session_id)
