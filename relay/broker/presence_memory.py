"""Presence in one process (`streamrelay dev`, tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from schema import keys
from schema.presence_codec import Presences, encode_diff, encode_entry, group

from .presence import PresenceStore


class MemoryPresence(PresenceStore):
    def __init__(self, broadcast: Callable[[str, bytes], None], clock: Callable[[], float] = time.monotonic) -> None:
        self.broadcast = broadcast
        self.clock = clock
        self.sessions: dict[str, dict[str, tuple[bytes, float]]] = {}  # session -> ref -> (entry, expires at)

    async def track(self, session_id: str, ref: str, user_id: str, meta: dict[str, Any], ttl: float) -> Presences:
        entry = encode_entry(user_id, meta)
        self._announce(session_id, joins=[entry], leaves=[])
        self.sessions.setdefault(session_id, {})[ref] = (entry, self.clock() + ttl)
        return await self.list(session_id)

    async def untrack(self, session_id: str, ref: str, user_id: str, meta: dict[str, Any]) -> None:
        tabs = self.sessions.get(session_id, {})
        gone = tabs.pop(ref, None)
        if not tabs:
            self.sessions.pop(session_id, None)
        if gone is not None:
            self._announce(session_id, joins=[], leaves=[gone[0]])

    async def keep(self, sessions: dict[str, dict[str, float]]) -> None:
        now = self.clock()
        for session_id, ttls in sessions.items():
            tabs = self.sessions.get(session_id, {})
            for ref, ttl in ttls.items():
                if ref in tabs:
                    tabs[ref] = (tabs[ref][0], now + ttl)
            expired = [ref for ref, (_, expires) in tabs.items() if expires <= now]
            if expired:
                self._announce(session_id, joins=[], leaves=[tabs.pop(ref)[0] for ref in expired])
            if not tabs:
                self.sessions.pop(session_id, None)

    async def list(self, session_id: str) -> Presences:
        now = self.clock()
        return group([entry for entry, expires in self.sessions.get(session_id, {}).values() if expires > now])

    def _announce(self, session_id: str, joins: list[bytes], leaves: list[bytes]) -> None:
        self.broadcast(keys.topic(session_id), encode_diff(group(joins), group(leaves)))
