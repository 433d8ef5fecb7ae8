"""Reading and editing a hosted document from anywhere: its stored state (SQL) plus its update log (Redis).

The gateway's rooms keep documents in memory; a worker applying the assistant's
change, and an HTTP request, read and edit them here without one, and fold the
log into the stored state so that Redis holds only what is new.
"""

from __future__ import annotations

import secrets

from pycrdt import Doc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema import keys
from schema.document_store import fold, stored_state
from schema.documents import load, replace_text

from .documents import ORIGIN_BYTES, UPDATE, DocumentBus, DocumentMessage


def new_origin() -> bytes:
    """Names the sender of updates on a document topic (a room, or one edit)."""
    return secrets.token_hex(ORIGIN_BYTES // 2).encode()


async def current(bus: DocumentBus, db: async_sessionmaker[AsyncSession], session_id: str, name: str) -> Doc:
    """The document as stored and logged now."""
    async with db() as session:
        state = await stored_state(session, session_id, name)
    logged = await bus.logged_updates(keys.doc_topic(session_id, name))
    return load([state, *logged.updates])


async def fold_log(
    bus: DocumentBus, db: async_sessionmaker[AsyncSession], session_id: str, name: str, extra: bytes | None = None
) -> None:
    """Fold the document's log (and `extra`, e.g. a room's whole state) into its stored state, then drop
    what was folded from the log."""
    topic = keys.doc_topic(session_id, name)
    logged = await bus.logged_updates(topic)
    updates = [extra] if extra is not None else []
    if not logged.updates and not updates:
        return
    if await fold(db, session_id, name, [*updates, *logged.updates]) and logged.last_id is not None:
        await bus.trim(topic, logged.last_id)


async def edit_text(
    bus: DocumentBus, db: async_sessionmaker[AsyncSession], session_id: str, name: str, text: str
) -> bool:
    """Make the document's text `text` by the smallest edit, as one transaction that every tab receives
    and SQL keeps; False when it already was."""
    update = replace_text(await current(bus, db, session_id, name), text)
    if update is None:
        return False
    await store_update(bus, db, session_id, name, update)
    return True


async def store_update(
    bus: DocumentBus, db: async_sessionmaker[AsyncSession], session_id: str, name: str, update: bytes
) -> None:
    """Send an update made outside any room to every tab, and into SQL."""
    await bus.append_update(keys.doc_topic(session_id, name), DocumentMessage(UPDATE, new_origin(), update))
    await fold_log(bus, db, session_id, name)
