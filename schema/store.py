"""The SQL the gateway and the workers share: history, applied changes, a generation's start and end.

One applied-changes query and one history limit, whichever process reads. The
final write is guarded by `status = 'processing'`, so that exactly one finisher
(the generation's worker, or one that took its job over) wins.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, Update, and_, bindparam, cast, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from .db import in_transaction
from .models import (
    INTERRUPTED,
    MESSAGE_FIELDS,
    PROCESSING,
    SUCCESS,
    AppliedChange,
    ChatMessage,
    ChatSession,
    Tenant,
    message_dict,
    utcnow,
)
from .usage import count_generation

HISTORY_LIMIT = 50  # messages a client is sent on join, and an upstream is given as history
WORKER_LOST = "The worker generating this response stopped unexpectedly."  # the error of a takeover's ending


class UnknownMessage(LookupError):
    """A message id that is not one of the session's."""


APPLIED_CHANGES = select(AppliedChange.change_id).where(AppliedChange.session_id == bindparam("session_id"))


async def applied_changes(db: AsyncSession, session_id: str) -> set[str]:
    return set(await db.scalars(APPLIED_CHANGES, {"session_id": session_id}))


async def carries_change(db: AsyncSession, session_id: str, change_id: str) -> bool:
    """Whether a stored message of the session proposes the change `change_id` (the claimable ones)."""
    # The text match narrows the rows in the database (on SQLite and PostgreSQL alike); the ids decide.
    rows = await db.scalars(
        select(ChatMessage.changes).where(
            ChatMessage.session_id == session_id,
            ChatMessage.role == "assistant",
            cast(ChatMessage.changes, Text).contains(change_id),
        )
    )
    return any(change.get("change_id") == change_id for changes in rows for change in changes or [])


async def is_processing(db: AsyncSession, message_id: str) -> bool:
    """Whether the message is still being generated (no finisher has written it)."""
    return await db.scalar(select(ChatMessage.status).where(ChatMessage.id == message_id)) == PROCESSING


async def recent_messages(
    db: AsyncSession, session_id: str, limit: int = HISTORY_LIMIT, before: str | None = None
) -> list[dict[str, Any]]:
    """Up to `limit` messages, oldest first; `before` is a message id to page back from."""
    query = select(ChatMessage).where(ChatMessage.session_id == session_id)
    if before is not None:
        pivot = await db.get(ChatMessage, before)
        if pivot is None or pivot.session_id != session_id:
            raise UnknownMessage(before)
        query = query.where(ChatMessage.created_at < pivot.created_at)
    rows = (await db.scalars(query.order_by(ChatMessage.created_at.desc()).limit(limit))).all()
    applied = await applied_changes(db, session_id)
    return [message.to_dict(applied) for message in reversed(rows)]


# Built once, on the tables (Core, not the ORM's statement compilation): 100 generations may start at once.
MESSAGES, SESSIONS, TENANTS = (model.__table__.c for model in (ChatMessage, ChatSession, Tenant))  # type: ignore[attr-defined]
GENERATION_START = (
    select(MESSAGES.status, MESSAGES.created_at, SESSIONS.context, SESSIONS.documents, SESSIONS.tenant_id)
    .add_columns(TENANTS.settings)
    .select_from(ChatMessage.__table__)
    .join(ChatSession.__table__, SESSIONS.id == bindparam("session_id"))
    .outerjoin(Tenant.__table__, TENANTS.id == SESSIONS.tenant_id)
    .where(MESSAGES.id == bindparam("message_id"))
)
EARLIER_MESSAGES = (
    select(MESSAGES.role, MESSAGES.content, MESSAGES.user_id, MESSAGES.tool_calls)
    .where(
        MESSAGES.session_id == bindparam("session_id"),
        MESSAGES.created_at < bindparam("before"),
        MESSAGES.status == SUCCESS,
    )
    .order_by(MESSAGES.created_at.desc())
    .limit(HISTORY_LIMIT + 1)  # the question and the history before it
)


@dataclass(frozen=True)
class GenerationStart:
    """What a generation needs from SQL to ask the upstream."""

    question: str
    history: list[dict[str, Any]]  # {role, content, tool_calls?}: an answer's tool calls, where it made some
    context: dict[str, Any]
    tenant_settings: dict[str, Any]
    tenant: str
    user_id: str | None  # who asked
    documents: str  # the session's documents mode: the relay's hosted documents are read as it starts


async def generation_start(
    db: async_sessionmaker[AsyncSession], session_id: str, message_id: str
) -> GenerationStart | None:
    """The question, its history and settings; None when the message is no longer `processing`."""
    return await in_transaction(db, _generation_start, session_id, message_id)


def _generation_start(connection: Connection, session_id: str, message_id: str) -> GenerationStart | None:
    ids = {"session_id": session_id, "message_id": message_id}
    found = connection.execute(GENERATION_START, ids).first()
    if found is None or found.status != PROCESSING:
        return None
    rows = connection.execute(EARLIER_MESSAGES, {**ids, "before": found.created_at})
    earlier = list(reversed(rows.all()))
    question, history = earlier[-1], earlier[:-1]
    return GenerationStart(
        question=question.content,
        history=[_history_entry(m.role, m.content, m.tool_calls) for m in history],
        context=found.context or {},
        tenant_settings=found.settings or {},
        tenant=found.tenant_id,
        user_id=question.user_id,
        documents=found.documents,
    )


def _history_entry(role: str, content: str, tool_calls: list[Any] | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"role": role, "content": content}
    if tool_calls:
        entry["tool_calls"] = tool_calls
    return entry


async def warm_up(db: async_sessionmaker[AsyncSession], connections: int) -> None:
    """`connections` connections opened and the start's and the final write's statements compiled: run for no
    message (the connections open as the warm-ups overlap)."""

    async def once() -> None:
        await in_transaction(db, _warm_up)
        await persist_final(db, "", status=SUCCESS, content="", changes=[], usage={}, error=None)

    await asyncio.gather(*(once() for _ in range(connections)))


def _warm_up(connection: Connection) -> None:
    _generation_start(connection, "", "")
    connection.execute(EARLIER_MESSAGES, {"session_id": "", "before": utcnow()})


# The final write's one statement: the message's columns as clients see them, and whom its tokens count for.
FINAL_RETURNING = (
    *(MESSAGES[name] for name in MESSAGE_FIELDS),
    *(
        select(column).where(SESSIONS.id == MESSAGES.session_id).correlate(ChatMessage.__table__)
        .scalar_subquery().label(name)
        for column, name in ((SESSIONS.tenant_id, "tenant_id"), (SESSIONS.user_id, "owner"))
    ),
)


async def persist_final(
    db: async_sessionmaker[AsyncSession],
    message_id: str,
    *,
    status: str,
    content: str,
    changes: list[dict[str, Any]],
    usage: dict[str, Any],
    error: str | None,
    tool_calls: list[dict[str, Any]] | None = None,
    replaces_takeover: bool = False,
) -> dict[str, Any] | None:
    """Persist the final message once: the `new_message` payload for the finisher that wins, else None.

    The generation's own worker (`replaces_takeover`) also wins over a takeover that ended the
    message as lost meanwhile: what it has is never downgraded to the takeover's `interrupted`.
    A takeover knows no `tool_calls` (None): the column keeps what it holds.

    One `UPDATE … RETURNING` writes the message and reads back what the payload and the month's
    totals need; the takeover case (rare) first reads the record it replaces, locked.
    """
    values = {"status": status, "content": content, "changes": changes, "usage": usage, "error": error}
    if tool_calls is not None:
        values["tool_calls"] = tool_calls
    return await in_transaction(db, _persist_final, message_id, values, usage, replaces_takeover)


@functools.cache
def _final_write(columns: tuple[str, ...], took_over: bool) -> Update:
    """The final write of `columns` (and `completed_at`), guarded by what the message must still be; built once
    each: a statement built per call costs its cache key's computation, and this one has two subqueries."""
    table = ChatMessage.__table__
    values = {name: bindparam(f"new_{name}", type_=table.c[name].type) for name in (*columns, "completed_at")}
    guard = (
        and_(MESSAGES.status == INTERRUPTED, MESSAGES.error == WORKER_LOST) if took_over
        else MESSAGES.status == PROCESSING
    )  # fmt: skip
    return update(table).values(values).where(MESSAGES.id == bindparam("message_id"), guard).returning(*FINAL_RETURNING)


TAKEN_OVER = select(ChatMessage.status, ChatMessage.error, ChatMessage.usage).where(
    ChatMessage.id == bindparam("message_id")
)


def _persist_final(
    connection: Connection, message_id: str, values: dict[str, Any], usage: dict[str, Any], replaces_takeover: bool
) -> dict[str, Any] | None:
    columns = tuple(values)
    params = {"message_id": message_id, "new_completed_at": utcnow(), **{f"new_{k}": v for k, v in values.items()}}
    replaced = None  # a takeover's record this replaces: its usage was counted already
    row = connection.execute(_final_write(columns, False), params).first()
    if row is None and replaces_takeover:
        found = connection.execute(TAKEN_OVER.with_for_update(), {"message_id": message_id}).first()
        if found is not None and found.status == INTERRUPTED and found.error == WORKER_LOST:
            replaced = found.usage
            row = connection.execute(_final_write(columns, True), params).first()
    if row is None:
        return None
    applied = set(connection.scalars(APPLIED_CHANGES, {"session_id": row.session_id})) if row.changes else set[str]()
    final = {"message": message_dict(row, applied)}
    user = row.user_id or row.owner  # the asking user's tokens (the session owner's in older rows)
    count_generation(connection, row.tenant_id, user, usage, replaced)  # in the same write
    return final


async def persisted_final(db: async_sessionmaker[AsyncSession], message_id: str) -> dict[str, Any] | None:
    async with db() as session:
        return await _final(session, message_id)


async def _final(session: AsyncSession, message_id: str) -> dict[str, Any] | None:
    """The `new_message` payload of a message as it is stored."""
    message = await session.get(ChatMessage, message_id, populate_existing=True)
    if message is None:
        return None
    return {"message": message.to_dict(await applied_changes(session, message.session_id))}


async def stale_generations(db: async_sessionmaker[AsyncSession], older_than: datetime) -> list[tuple[str, str]]:
    """(session id, message id) of messages still `processing` though begun before `older_than`."""
    async with db() as session:
        rows = await session.execute(
            select(ChatMessage.session_id, ChatMessage.id).where(
                ChatMessage.status == PROCESSING, ChatMessage.created_at < older_than
            )
        )
        return [(session_id, message_id) for session_id, message_id in rows]
