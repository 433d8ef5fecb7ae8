"""One generation: stream from the upstream, publish every event, persist the end.

SQL is touched twice per generation: the gateway wrote the placeholder when
the user's message arrived; this writes the final message once, guarded by
`status = 'processing'` so that exactly one finisher (this worker, or one that
took the job over) publishes `new_message`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.broker.base import Broker, BrokerUnavailable, Job
from schema import events
from schema.events import change_id
from schema.models import (
    CANCELLED,
    INTERRUPTED,
    PROCESSING,
    SUCCESS,
    AppliedChange,
    ChatMessage,
    ChatSession,
    Tenant,
    utcnow,
)

from .providers.base import Changes, Chunk, Complete, GenerationRequest, Provider, Status, UpstreamError

log = logging.getLogger(__name__)

HISTORY_MESSAGES = 50
PUBLISH_PATIENCE_SECONDS = 30.0

ProviderFor = Callable[[dict[str, Any]], Provider]


@dataclass
class Outcome:
    """How the generation ended, and what it had produced by then."""

    status: str = SUCCESS
    error: str | None = None
    content: list[str] = field(default_factory=list)
    early_changes: list[dict[str, Any]] = field(default_factory=list)
    complete: Complete | None = None


class Generation:
    def __init__(
        self, job: Job, broker: Broker, db: async_sessionmaker[AsyncSession], provider_for: ProviderFor
    ) -> None:
        self.job = job
        self.session_id = job.fields["session_id"]
        self.message_id = job.fields["message_id"]
        self.broker = broker
        self.db = db
        self.provider_for = provider_for
        self.outcome = Outcome()
        self.ending: tuple[str, str | None] | None = None
        self.streaming: asyncio.Task[None] | None = None

    def end_early(self, status: str, reason: str | None) -> None:
        """Stop the upstream now (user stop, worker shutdown) and finish with `status`."""
        if self.ending is None:
            self.ending = (status, reason)
            if self.streaming is not None:
                self.streaming.cancel()

    async def run(self) -> None:
        loaded = await self._load()
        if loaded is None:
            return  # finished already: a duplicate or late job
        request, tenant_settings = loaded
        if await self.broker.stop_requested(self.message_id):
            self.ending = (CANCELLED, None)
        else:
            await self._publish(events.MESSAGE_PROCESSING, {"session_id": self.session_id})
            self.streaming = asyncio.create_task(self._stream(tenant_settings, request))
            try:
                await self.streaming
            except asyncio.CancelledError:
                if self.ending is None:
                    raise
            except UpstreamError as exc:
                self.outcome.status, self.outcome.error = exc.status, exc.message
            except Exception as exc:
                log.exception("generation %s failed", self.message_id)
                self.outcome.status, self.outcome.error = "error", f"the worker failed: {exc}"
        if self.ending is not None:
            self.outcome.status, self.outcome.error = self.ending
        await self._finish()

    async def _load(self) -> tuple[GenerationRequest, dict[str, Any]] | None:
        async with self.db() as db:
            message = await db.get(ChatMessage, self.message_id)
            if message is None or message.status != PROCESSING:
                return None
            session = await db.get(ChatSession, self.session_id)
            assert session is not None
            tenant = await db.get(Tenant, session.tenant_id)
            rows = await db.scalars(
                select(ChatMessage)
                .where(
                    ChatMessage.session_id == self.session_id,
                    ChatMessage.created_at < message.created_at,
                    ChatMessage.status == SUCCESS,
                )
                .order_by(ChatMessage.created_at.desc())
                .limit(HISTORY_MESSAGES + 1)
            )
            earlier = list(reversed(rows.all()))
        question, history = earlier[-1], earlier[:-1]
        request = GenerationRequest(
            content=question.content,
            history=[{"role": m.role, "content": m.content} for m in history],
            context=session.context or {},
            meta={"session_id": self.session_id, "message_id": self.message_id},
        )
        return request, (tenant.settings if tenant else {})

    async def _stream(self, tenant_settings: dict[str, Any], request: GenerationRequest) -> None:
        outcome = self.outcome
        async for event in self.provider_for(tenant_settings).stream(request):
            if isinstance(event, Chunk):
                if event.content:
                    outcome.content.append(event.content)
                    await self._publish(events.STREAMING_CHUNK, {"content": event.content})
            elif isinstance(event, Status):
                await self._publish(events.STREAMING_STATUS, {"text": event.text})
            elif isinstance(event, Changes):
                entry = {"change_id": change_id(event.changes), "changes": event.changes}
                outcome.early_changes.append(entry)
                await self._publish(events.STREAMING_CHANGES, {**entry, "applied": False})
            elif isinstance(event, Complete):
                outcome.complete = event
                return
        raise UpstreamError("the upstream stream ended without a final message", "interrupted")

    async def _publish(self, event: str, payload: dict[str, Any]) -> None:
        """Publish, riding out a broker restart: the upstream waits meanwhile."""
        delay, waited = 0.1, 0.0
        while True:
            try:
                await self.broker.publish(self.session_id, event, self.message_id, payload)
                return
            except BrokerUnavailable:
                if waited >= PUBLISH_PATIENCE_SECONDS:
                    raise
                log.warning("broker unavailable; retrying %s for %s", event, self.message_id)
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 2.0)

    async def _finish(self) -> None:
        outcome = self.outcome
        partial = "".join(outcome.content)
        if outcome.status not in (SUCCESS, CANCELLED):
            error = {"error": outcome.error or outcome.status, "partial_content": partial}
            await self._publish(events.STREAMING_ERROR, error)
        if outcome.complete is not None:
            content = outcome.complete.response
            changes = [{"change_id": change_id(c), "changes": c} for c in outcome.complete.changes]
            usage = outcome.complete.usage
        else:
            content, changes, usage = partial, outcome.early_changes, {}
        final = await persist_final(
            self.db, self.session_id, self.message_id,
            status=outcome.status, content=content, changes=changes, usage=usage, error=outcome.error,
        )  # fmt: skip
        if final is not None:
            await self._publish(events.NEW_MESSAGE, final)


async def persist_final(
    db: async_sessionmaker[AsyncSession],
    session_id: str,
    message_id: str,
    *,
    status: str,
    content: str,
    changes: list[dict[str, Any]],
    usage: dict[str, Any],
    error: str | None,
) -> dict[str, Any] | None:
    """Persist the final message once: the `new_message` payload for the finisher that wins, else None."""
    async with db.begin() as session:
        won = await session.execute(
            update(ChatMessage)
            .where(ChatMessage.id == message_id, ChatMessage.status == PROCESSING)
            .values(
                status=status, content=content, changes=changes, usage=usage, error=error, completed_at=utcnow()
            )
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            return None
        message = await session.get(ChatMessage, message_id, populate_existing=True)
        applied = set(
            await session.scalars(select(AppliedChange.change_id).where(AppliedChange.session_id == session_id))
        )
    assert message is not None
    return {"message": message.to_dict(applied)}


async def finish_lost(job: Job, broker: Broker, db: async_sessionmaker[AsyncSession]) -> bool:
    """Finish a generation whose worker vanished, from what the snapshot holds."""
    session_id, message_id = job.fields["session_id"], job.fields["message_id"]
    async with db() as session:
        message = await session.get(ChatMessage, message_id)
        if message is None or message.status != PROCESSING:
            return False
    snapshot = await broker.snapshot(session_id)
    streaming = snapshot.streaming if snapshot.streaming and snapshot.streaming.message_id == message_id else None
    partial = streaming.content if streaming else ""
    changes = [{"change_id": c["change_id"], "changes": c["changes"]} for c in streaming.changes] if streaming else []
    error = "the worker generating this response stopped unexpectedly"
    await broker.publish(
        session_id, events.STREAMING_ERROR, message_id, {"error": error, "partial_content": partial}
    )
    final = await persist_final(
        db, session_id, message_id, status=INTERRUPTED, content=partial, changes=changes, usage={}, error=error
    )
    if final is None:
        return False
    await broker.publish(session_id, events.NEW_MESSAGE, message_id, final)
    return True
