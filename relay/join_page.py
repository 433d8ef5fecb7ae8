"""The join reply's page — the session and its recent messages — cached in Redis next to the log.

Without it a join reads the session (the access check and the reply's
`session`) and its last 50 messages from SQL: several queries in two
transactions, most of the CPU a join costs, and what a reconnect storm
multiplies by every tab.

The page is the session's cached attachment in the event log (`EventLog.store_attachment`,
under `{ai_session:<id>}:page`), tagged with the session's
epoch and the seq of its last *page-changing* event (`events.PAGE_EVENTS`:
user_message, new_message, session_updated, session_deleted, changes_applied, messages_deleted),
which the event log records as the session's `attachment_seq`. Every write
that changes a session's row or its messages publishes one of those events,
so the stored page goes stale for every gateway at once, the moment the event
is published. The page is read atomically with the join's position
(`EventLog.position`) and used only while its tag is the position's; a join
that missed stores what it read from SQL under the tag of the position it read
*before* SQL, so a write landing in between leaves that page already stale: a
page older than its tag is never used.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from .broker.base import BrokerUnavailable

if TYPE_CHECKING:
    from .auth import Claims
    from .broker.log import EventLog, Position
    from .chat import Chat

logger = logging.getLogger(__name__)

Contents = tuple[Any, Any]  # the reply's session and messages: dicts, or their JSON as `orjson.Fragment`s


@dataclass(frozen=True)
class Page:
    """Stored as three lines: `[epoch, page_seq, tenant]`, the session's JSON, the messages' JSON.

    A join reads only the first: the other two go into its reply as they are (`orjson.Fragment`),
    so a page costs the same to serve whatever its messages hold.
    """

    epoch: str
    page_seq: int
    tenant: str
    session: Any
    messages: Any

    def encode(self) -> bytes:
        return b"\n".join(
            orjson.dumps(part) for part in ([self.epoch, self.page_seq, self.tenant], self.session, self.messages)
        )

    def current(self, epoch: str, page_seq: int) -> bool:
        return self.epoch == epoch and self.page_seq == page_seq


def decode(data: bytes | None) -> Page | None:
    """The stored page, or None when there is none or it cannot be read (it is then read from SQL again)."""
    if not data:
        return None
    parts = data.split(b"\n")  # JSON from orjson holds no raw newline
    if len(parts) != 3 or not parts[1].startswith(b"{") or not parts[2].startswith(b"["):
        return None
    try:
        epoch, page_seq, tenant = orjson.loads(parts[0])
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    if not (isinstance(epoch, str) and isinstance(page_seq, int) and isinstance(tenant, str)):
        return None
    return Page(epoch, page_seq, tenant, orjson.Fragment(parts[1]), orjson.Fragment(parts[2]))


class JoinPages:
    """The join's access check and its reply's session and messages, for one gateway process.

    Joins of one session that miss its page at the same moment (the tabs of a
    user reloading together, a reconnect storm) share one SQL read.
    """

    def __init__(self, event_log: EventLog, chat: Chat) -> None:
        self.event_log = event_log
        self.chat = chat
        self.reading: dict[tuple[str, str, str, int], asyncio.Future[Contents]] = {}

    async def read(self, claims: Claims, session_id: str, since: tuple[str, int] | None) -> tuple[Position, Contents]:
        """A join's position and its reply's session and messages; raises when the caller may not join."""
        position = await self.event_log.position(session_id, since)
        if not position.snapshot.epoch:
            # No history yet, or it expired: the access check comes before anything is stored in
            # Redis for this id, then the epoch is started (a made-up session id stores nothing).
            await self.chat.check_access(claims, session_id)
            position = await self.event_log.position(session_id, since, start=True)
        return position, await self.contents(claims, session_id, position)

    async def contents(self, claims: Claims, session_id: str, position: Position) -> Contents:
        """At `position`: from the page while it is current and the caller's tenant's, else from SQL (refusing
        as `Chat.session` does), then cached. The tenant's assistant flag is the caller's to check first."""
        epoch, page_seq = position.snapshot.epoch, position.snapshot.attachment_seq
        page = decode(position.attachment)
        if page is not None and page.current(epoch, page_seq) and page.tenant == claims.tenant:
            return page.session, page.messages
        key = (session_id, claims.tenant, epoch, page_seq)
        reading = self.reading.get(key)
        if reading is None:
            reading = self.reading[key] = asyncio.ensure_future(self._read(claims, session_id, epoch, page_seq))
            reading.add_done_callback(lambda _: self.reading.pop(key, None))
        return await asyncio.shield(reading)

    async def created(self, claims: Claims, session: dict[str, Any]) -> None:
        """Cache a new session's page (the session, no messages), so that its first joins read no SQL."""
        try:
            snapshot = (await self.event_log.position(session["id"], None, start=True)).snapshot
            page = Page(snapshot.epoch, snapshot.attachment_seq, claims.tenant, session, [])
            await self.event_log.store_attachment(session["id"], page.encode())
        except BrokerUnavailable as exc:
            logger.warning("the page of new session %s is not cached: %s", session["id"], exc)

    async def _read(self, claims: Claims, session_id: str, epoch: str, page_seq: int) -> Contents:
        session, messages = await self.chat.session_and_history(claims, session_id)
        page = Page(epoch, page_seq, claims.tenant, session, messages)
        await self.event_log.store_attachment(session_id, page.encode())
        return session, messages
