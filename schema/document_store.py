"""Hosted documents in SQL: each document's whole state as one Yjs update, merged into by folds.

A fold reads the stored state and its `version`, merges the updates it is given
into it (compacted), and writes it back only if the version is unchanged; otherwise it
reads again. Two processes folding at once therefore never lose each other's
updates, and folding an update twice changes nothing (Yjs updates are
idempotent).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .documents import EMPTY_UPDATE, load
from .models import ChatSession, SessionDocument, utcnow

FOLD_ATTEMPTS = 20


async def stored_state(db: AsyncSession, session_id: str, name: str) -> bytes:
    state = await db.scalar(
        select(SessionDocument.state).where(SessionDocument.session_id == session_id, SessionDocument.name == name)
    )
    return state if state is not None else EMPTY_UPDATE


async def fold(db: async_sessionmaker[AsyncSession], session_id: str, name: str, updates: list[bytes]) -> bool:
    """Merge `updates` into the stored state; False when the session no longer exists."""
    for _ in range(FOLD_ATTEMPTS):
        async with db.begin() as session:
            row = (
                await session.execute(
                    select(SessionDocument.state, SessionDocument.version).where(
                        SessionDocument.session_id == session_id, SessionDocument.name == name
                    )
                )
            ).first()
            if row is None:
                try:
                    async with session.begin_nested():
                        session.add(SessionDocument(session_id=session_id, name=name, state=_merged(updates)))
                    return True
                except IntegrityError:  # created meanwhile by another fold, or the session is gone
                    if await _session_gone(session, session_id):
                        return False
                    continue
            merged = _merged([row.state, *updates])
            if merged == row.state:
                return True
            written = await session.execute(
                update(SessionDocument)
                .where(
                    SessionDocument.session_id == session_id,
                    SessionDocument.name == name,
                    SessionDocument.version == row.version,
                )
                .values(state=merged, version=row.version + 1, updated_at=utcnow())
            )
            if written.rowcount == 1:  # type: ignore[attr-defined]
                return True
    raise RuntimeError(f"document {name} of session {session_id} changed under {FOLD_ATTEMPTS} folds in a row")


async def _session_gone(session: AsyncSession, session_id: str) -> bool:
    return await session.get(ChatSession, session_id) is None


def _merged(updates: list[bytes]) -> bytes:
    """One update holding them all, compacted: applied to a document and encoded again, a run of
    one-character edits is stored as one piece of text (merging the updates alone keeps every edit)."""
    return load(updates).get_update()
