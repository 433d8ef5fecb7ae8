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
is published. The page is read atomically with the join's position
(`EventLog.position`) and used only while its tag is the position's; a join
that missed stores what it read from SQL under the tag of the position it read
*before* SQL, so a write landing in between leaves that page already stale: a
page older than its tag is never used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .auth import Claims
    from .broker.log import Position
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


async def contents(
    gateway: Gateway, claims: Claims, session_id: str, position: Position
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The join's access check (refusing as `Chat.session` does) and its reply's session and messages at
    `position`: from the page while it is current and the caller's tenant's, else from SQL, then cached.

    The tenant's assistant flag is the caller's to check first (`Tenants.require_assistant`, cached).
    """
    tag = position.snapshot.epoch, position.snapshot.page_seq
    page = decode(position.page)
    if page is not None and page.current(*tag) and page.tenant == claims.tenant:
        return page.session, page.messages
    session = await gateway.chat.session(claims, session_id)
    messages = await gateway.chat.history(session_id)
    await gateway.broker.store_page(session_id, Page(*tag, claims.tenant, session, messages).encode())
    return session, messages
