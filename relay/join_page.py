"""The join reply's page — the session and its recent messages — cached in Redis next to the log.

Without it a join reads the session (the access check and the reply's
`session`) and its last 50 messages from SQL: several queries in two
transactions, most of the CPU a join costs, and what a reconnect storm
multiplies by every tab.

The page is stored under `{ai_session:<id>}:page`, tagged with the session's
epoch and the seq of its last *page-changing* event (`events.PAGE_EVENTS`:
user_message, new_message, session_updated, session_deleted, changes_applied),
which the publish script records as `page_seq` in the live hash. Every write
that changes a session's row or its messages publishes one of those events,
so the stored page goes stale for every gateway at once, the moment the event
is published. A join uses a page only while its tag equals the session's
current one; a join that missed stores what it read from SQL under the tag it
read *before* reading SQL, so a write landing in between leaves that page
already stale: a page older than its tag is never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .auth import Claims
    from .gateway import Gateway


@dataclass(frozen=True)
class Page:
    epoch: str
    page_seq: int
    tenant: str
    session: dict[str, Any]
    messages: list[dict[str, Any]]

    def encode(self) -> bytes:
        return orjson.dumps([self.epoch, self.page_seq, self.tenant, self.session, self.messages])

    def current(self, epoch: str, page_seq: int) -> bool:
        return self.epoch == epoch and self.page_seq == page_seq


def decode(data: bytes | None) -> Page | None:
    """The stored page, or None when there is none or it cannot be read (it is then read from SQL again)."""
    if not data:
        return None
    try:
        epoch, page_seq, tenant, session, messages = orjson.loads(data)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return None
    if not (isinstance(epoch, str) and isinstance(page_seq, int) and isinstance(tenant, str)):
        return None
    if not (isinstance(session, dict) and isinstance(messages, list)):
        return None
    return Page(epoch, page_seq, tenant, session, messages)


@dataclass(frozen=True)
class Entry:
    """What a join's access check found: the cached page when it was current, else the session read from SQL
    after `tag`, the (epoch, page_seq) read before it (epoch None: the session had no history yet)."""

    page: Page | None
    session: dict[str, Any] | None
    tag: tuple[str | None, int] = (None, 0)


async def enter(gateway: Gateway, claims: Claims, session_id: str) -> Entry:
    """The join's access check, refusing as `Chat.session` does; from the page when current.

    The tenant's assistant flag is the caller's to check first (`Tenants.require_assistant`, cached).
    """
    read = await gateway.broker.page(session_id)
    page = decode(read.data)
    if page is not None and read.epoch is not None and page.current(read.epoch, read.page_seq):
        if page.tenant == claims.tenant:
            return Entry(page, None)
    session = await gateway.chat.session(claims, session_id)
    return Entry(None, session, (read.epoch, read.page_seq))


async def contents(
    gateway: Gateway, claims: Claims, session_id: str, entry: Entry, epoch: str, page_seq: int
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The reply's session and messages at the join's position (`epoch`, `page_seq`, read after `enter`)."""
    if entry.page is not None and entry.page.current(epoch, page_seq):
        return entry.page.session, entry.page.messages
    session = entry.session
    if session is None:  # the page went stale between the access check and the position
        session = await gateway.chat.session(claims, session_id)
    messages = await gateway.chat.history(session_id)
    tag_epoch, tag_seq = entry.tag
    if tag_epoch is None and page_seq == 0:
        # The session had no history when its row was read, and no page-changing event has happened since
        # (the position would show it): what was read is current at the position.
        tag_epoch = epoch
    if entry.session is not None and tag_epoch is not None:
        page = Page(tag_epoch, tag_seq, claims.tenant, session, messages)
        await gateway.broker.store_page(session_id, page.encode())
    return session, messages
