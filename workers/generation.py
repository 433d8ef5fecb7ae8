"""One generation: stream from the upstream, publish every event, persist the end.

SQL is touched twice per generation: the gateway wrote the placeholder when
the user's message arrived; this writes the final message once, guarded by
`status = 'processing'` so that exactly one finisher (this worker, or one that
took the job over) publishes `new_message`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.broker.base import Broker, BrokerUnavailable, Job, unique_id
from relay.metrics import FIRST_TOKEN_SECONDS, GENERATIONS, PUBLISH_SECONDS
from schema import events
from schema.events import change_id
from schema.models import (
    CANCELLED,
    ERROR,
    INTERRUPTED,
    PROCESSING,
    SUCCESS,
    AppliedChange,
    ChatMessage,
    ChatSession,
    Tenant,
    utcnow,
)
from schema.usage import count_generation, generation_usage

from .durable import until_it_lands
from .providers.base import Changes, Chunk, Complete, GenerationRequest, Provider, Status, UpstreamError

log = logging.getLogger(__name__)

HISTORY_MESSAGES = 50
BROKER_PATIENCE_SECONDS = 30.0
BROKER_LOST = (
    f"The message broker was unreachable for {BROKER_PATIENCE_SECONDS:g} seconds, so the response was abandoned."
)
WORKER_LOST = "The worker generating this response stopped unexpectedly."
WORKER_FAILED = "The worker failed unexpectedly."

ProviderFor = Callable[[dict[str, Any]], Provider]

# Built once: a generation's start reads plain columns, not ORM objects (100 generations may start at once).
GENERATION_START = (
    select(ChatMessage.status, ChatMessage.created_at, ChatSession.context, Tenant.settings)
    .select_from(ChatMessage)
    .join(ChatSession, ChatSession.id == bindparam("session_id"))
    .outerjoin(Tenant, Tenant.id == ChatSession.tenant_id)
    .where(ChatMessage.id == bindparam("message_id"))
)
EARLIER_MESSAGES = (
    select(ChatMessage.role, ChatMessage.content)
    .where(
        ChatMessage.session_id == bindparam("session_id"),
        ChatMessage.created_at < bindparam("before"),
        ChatMessage.status == SUCCESS,
    )
    .order_by(ChatMessage.created_at.desc())
    .limit(HISTORY_MESSAGES + 1)
)

T = TypeVar("T")


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
        self,
        job: Job,
        broker: Broker,
        db: async_sessionmaker[AsyncSession],
        provider_for: ProviderFor,
        max_seconds: float,
        sql_turns: asyncio.Semaphore,
    ) -> None:
        self.job = job
        # Shared by a worker's generations: many starting (or ending) at once take turns at SQL,
        # so that their queries do not stall the streams already running in this process.
        self.sql_turns = sql_turns
        self.max_seconds = max_seconds
        self.session_id = job.fields["session_id"]
        self.message_id = job.fields["message_id"]
        self.broker = broker
        self.db = db
        self.provider_for = provider_for
        self.outcome = Outcome()
        self.ending: tuple[str, str | None] | None = None
        self.streaming: asyncio.Task[None] | None = None
        self.awaiting_upstream = False
        self.epoch: str | None = None
        self.prompt = ""  # what was sent upstream, to estimate usage the upstream did not report

    def end_early(self, status: str, reason: str | None) -> None:
        """Stop the upstream now (user stop, worker shutdown) and finish with `status`.

        Only a wait for the upstream is cancelled: a publish in progress completes,
        so that what tabs were sent and what is persisted stay the same.
        """
        if self.ending is None:
            self.ending = (status, reason)
            if self.streaming is not None and self.awaiting_upstream:
                self.streaming.cancel()

    async def run(self) -> None:
        loaded = await self._load()
        if loaded is None:
            return  # finished already: a duplicate or late job
        request, tenant_settings = loaded
        self.prompt = "".join([*(m["content"] for m in request.history), request.content])
        if await self._patiently("check for a stop", lambda: self.broker.stop_requested(self.message_id)):
            self.end_early(CANCELLED, None)
        if self.ending is None:
            await self._publish_live(events.MESSAGE_PROCESSING, {"session_id": self.session_id})
        if self.ending is None:
            await self._stream_until_done(request, tenant_settings)
        if self.ending is not None and self.outcome.complete is None and self.outcome.status == SUCCESS:
            self.outcome.status, self.outcome.error = self.ending
        await self._finish()

    async def _stream_until_done(self, request: GenerationRequest, tenant_settings: dict[str, Any]) -> None:
        """Stream into `outcome`; whatever breaks becomes the outcome's status and error."""
        self.streaming = asyncio.create_task(self._stream(tenant_settings, request))
        too_long = f"The response took longer than the {self.max_seconds:g} s a response may take, and was stopped."
        deadline = asyncio.get_running_loop().call_later(self.max_seconds, self.end_early, INTERRUPTED, too_long)
        try:
            await self.streaming
        except asyncio.CancelledError:
            if self.ending is None:
                raise
        except UpstreamError as exc:
            self.outcome.status, self.outcome.error = exc.status, exc.message
        except BrokerUnavailable:
            self.outcome.status, self.outcome.error = INTERRUPTED, BROKER_LOST
        except Exception:
            log.exception("generation %s failed", self.message_id)
            self.outcome.status, self.outcome.error = ERROR, WORKER_FAILED  # the details are in the log
        finally:
            deadline.cancel()

    async def _load(self) -> tuple[GenerationRequest, dict[str, Any]] | None:
        ids = {"session_id": self.session_id, "message_id": self.message_id}
        async with self.sql_turns, self.db() as db:
            found = (await db.execute(GENERATION_START, ids)).first()
            if found is None or found.status != PROCESSING:
                return None
            rows = await db.execute(EARLIER_MESSAGES, {**ids, "before": found.created_at})
            earlier = list(reversed(rows.all()))
        question, history = earlier[-1], earlier[:-1]
        request = GenerationRequest(
            content=question.content,
            history=[{"role": m.role, "content": m.content} for m in history],
            context=found.context or {},
            meta=dict(ids),
        )
        return request, (found.settings or {})

    async def _stream(self, tenant_settings: dict[str, Any], request: GenerationRequest) -> None:
        outcome = self.outcome
        started = time.monotonic()
        async with contextlib.aclosing(self.provider_for(tenant_settings).stream(request)) as upstream:
            while self.ending is None:
                self.awaiting_upstream = True
                try:
                    event = await anext(upstream, None)
                finally:
                    self.awaiting_upstream = False
                if event is None:
                    raise UpstreamError("The AI service ended the stream without a final answer.", INTERRUPTED)
                if isinstance(event, Chunk):
                    if event.content:
                        if not outcome.content:
                            FIRST_TOKEN_SECONDS.observe(time.monotonic() - started)
                        outcome.content.append(event.content)
                        await self._publish_live(events.STREAMING_CHUNK, {"content": event.content})
                elif isinstance(event, Status):
                    await self._publish_live(events.STREAMING_STATUS, {"text": event.text})
                elif isinstance(event, Changes):
                    entry = {"change_id": change_id(event.changes), "changes": event.changes}
                    outcome.early_changes.append(entry)
                    await self._publish_live(events.STREAMING_CHANGES, {**entry, "applied": False})
                elif isinstance(event, Complete):
                    outcome.complete = event
                    return

    async def _publish_live(self, event: str, payload: dict[str, Any]) -> None:
        """Publish an event of the message in flight, keeping the session's snapshot whole.

        If the session's history was lost meanwhile (Redis restarted without its data),
        the event opened a new epoch whose snapshot lacks the message: publish the
        message so far again, so that tabs (re)joining the new epoch see all of it.
        """
        epoch = await self._publish(event, payload)
        if self.epoch is not None and epoch != self.epoch:
            log.warning("session %s lost its history; restoring the snapshot of %s", self.session_id, self.message_id)
            await self._publish(events.MESSAGE_PROCESSING, {"session_id": self.session_id})
            for entry in self.outcome.early_changes:
                await self._publish(events.STREAMING_CHANGES, {**entry, "applied": False})
            epoch = await self._publish(events.STREAMING_CHUNK, {"content": "".join(self.outcome.content)})
        self.epoch = epoch

    async def _publish(self, event: str, payload: dict[str, Any]) -> str:
        """Publish patiently, and once however often it is retried; returns the epoch the event went into."""
        publish_id = unique_id()
        with PUBLISH_SECONDS.time():
            _, epoch = await self._patiently(
                f"publish {event}",
                lambda: self.broker.publish(self.session_id, event, self.message_id, payload, publish_id),
            )
        return epoch

    async def _patiently(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        """Ride out a broker restart: retry for a while; the upstream waits meanwhile."""
        delay, waited = 0.1, 0.0
        while True:
            try:
                return await call()
            except BrokerUnavailable:
                if waited >= BROKER_PATIENCE_SECONDS:
                    raise
                log.warning("broker unavailable; retrying to %s for %s", what, self.message_id)
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 2.0)

    async def _finish(self) -> None:
        outcome = self.outcome
        if outcome.complete is not None:
            content = outcome.complete.response
            changes = [{"change_id": change_id(c), "changes": c} for c in outcome.complete.changes]
            reported = outcome.complete.usage
        else:
            content, changes, reported = "".join(outcome.content), outcome.early_changes, {}
        usage = generation_usage(reported, self.prompt, content)

        async def write() -> dict[str, Any] | None:
            async with self.sql_turns:
                return await persist_final(
                    self.db, self.session_id, self.message_id, replaces_takeover=True,
                    status=outcome.status, content=content, changes=changes, usage=usage, error=outcome.error,
                )  # fmt: skip

        final = await until_it_lands(write, self.max_seconds, f"the final write of {self.message_id}")
        if final is not None:  # else finished by a worker that took the job over
            GENERATIONS.labels(outcome.status).inc()
            await announce_end(self._publish, final)


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
    replaces_takeover: bool = False,
) -> dict[str, Any] | None:
    """Persist the final message once: the `new_message` payload for the finisher that wins, else None.

    The generation's own worker (`replaces_takeover`) also wins over a takeover that ended the
    message as lost meanwhile: what it has is never downgraded to the takeover's `interrupted`.
    """
    finishable = ChatMessage.status == PROCESSING
    if replaces_takeover:
        finishable = or_(finishable, and_(ChatMessage.status == INTERRUPTED, ChatMessage.error == WORKER_LOST))
    async with db.begin() as session:
        replaced = None  # a takeover's record this replaces: its usage was counted already
        if replaces_takeover:
            prior = await session.execute(
                select(ChatMessage.status, ChatMessage.usage).where(ChatMessage.id == message_id).with_for_update()
            )
            row = prior.first()
            replaced = row.usage if row is not None and row.status == INTERRUPTED else None
        won = await session.execute(
            update(ChatMessage)
            .where(ChatMessage.id == message_id, finishable)
            .values(
                status=status, content=content, changes=changes, usage=usage, error=error, completed_at=utcnow()
            )
        )
        if won.rowcount != 1:  # type: ignore[attr-defined]
            return None
        final = await _final(session, message_id)
        await count_generation(session, message_id, usage, replaced)
        return final


async def persisted_final(db: async_sessionmaker[AsyncSession], message_id: str) -> dict[str, Any] | None:
    async with db() as session:
        return await _final(session, message_id)


async def _final(session: AsyncSession, message_id: str) -> dict[str, Any] | None:
    """The `new_message` payload of a message as it is stored."""
    message = await session.get(ChatMessage, message_id, populate_existing=True)
    if message is None:
        return None
    applied = set(
        await session.scalars(select(AppliedChange.change_id).where(AppliedChange.session_id == message.session_id))
    )
    return {"message": message.to_dict(applied)}


Publish = Callable[[str, dict[str, Any]], Awaitable[object]]


async def announce_end(publish: Publish, final: dict[str, Any]) -> None:
    """The last events of a generation: `streaming_error` when it failed, then always `new_message`."""
    message = final["message"]
    if message["status"] in (ERROR, INTERRUPTED):
        await publish(events.STREAMING_ERROR, {"error": message["error"], "partial_content": message["content"]})
    await publish(events.NEW_MESSAGE, final)


async def finish_lost(job: Job, broker: Broker, db: async_sessionmaker[AsyncSession]) -> bool:
    """Finish a generation whose worker vanished, from what the snapshot holds; True if this announced its end.

    A worker may also vanish between persisting the message and announcing it: the
    snapshot then still shows the message in flight, and its end is announced here.
    """
    session_id, message_id = job.fields["session_id"], job.fields["message_id"]
    snapshot = await broker.snapshot(session_id)
    streaming = snapshot.streaming if snapshot.streaming and snapshot.streaming.message_id == message_id else None
    partial, changes = "", []
    if streaming is not None:
        partial = streaming.content
        changes = [{"change_id": c["change_id"], "changes": c["changes"]} for c in streaming.changes]
    final = await persist_final(
        db, session_id, message_id,
        status=INTERRUPTED, content=partial, changes=changes, usage=generation_usage({}, "", partial),
        error=WORKER_LOST,
    )  # fmt: skip
    if final is None and streaming is not None:
        final = await persisted_final(db, message_id)
    if final is None:
        return False
    await announce_end(lambda event, payload: broker.publish(session_id, event, message_id, payload), final)
    return True


async def stale_generations(db: async_sessionmaker[AsyncSession], older_than: datetime) -> list[Job]:
    """Messages still `processing` though begun before `older_than`: their jobs were lost with Redis's data."""
    async with db() as session:
        rows = await session.execute(
            select(ChatMessage.session_id, ChatMessage.id).where(
                ChatMessage.status == PROCESSING, ChatMessage.created_at < older_than
            )
        )
        return [Job("", {"session_id": session_id, "message_id": message_id}) for session_id, message_id in rows]
