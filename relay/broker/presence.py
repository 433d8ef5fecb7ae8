"""Presence, the broker's part: which tabs have a session open, on every gateway.

Each tab is an entry (its `phx_ref`, user and meta) with an expiry. Gateways
add their tabs, keep them alive while the tabs show life, and remove them when
they leave; an entry whose gateway vanished expires, and whichever gateway
reaps it tells the session's subscribers. Every change is broadcast on the
session's topic as a presence diff (`schema.presence_codec`), never logged or
numbered. Memory and Redis implement it and pass one contract suite.
"""

from __future__ import annotations

import abc
from typing import Any

from schema.presence_codec import Presences


class PresenceStore(abc.ABC):
    @abc.abstractmethod
    async def track(self, session_id: str, ref: str, user_id: str, meta: dict[str, Any], ttl: float) -> Presences:
        """Add a tab for `ttl` seconds and broadcast its join; returns who is present now, this tab included."""

    @abc.abstractmethod
    async def untrack(self, session_id: str, ref: str, user_id: str, meta: dict[str, Any]) -> None:
        """Remove a tab (as tracked) and broadcast its leave; nothing if it was gone already."""

    async def untrack_many(self, tabs: list[tuple[str, str, str, dict[str, Any]]]) -> list[BaseException | None]:
        """`untrack` for many tabs (session, ref, user, meta) at once: how each one ended, in order."""
        ended: list[BaseException | None] = []
        for tab in tabs:
            try:
                await self.untrack(*tab)
                ended.append(None)
            except Exception as exc:
                ended.append(exc)
        return ended

    @abc.abstractmethod
    async def keep(self, sessions: dict[str, dict[str, float]]) -> None:
        """For each session: give its tabs still present `ttl` more seconds from now (gone ones stay gone),
        then remove its expired tabs and broadcast their leaves, once, whichever gateway removes them."""

    @abc.abstractmethod
    async def list(self, session_id: str) -> Presences:
        """The tabs present now, as phoenix `presence_state`."""
