"""One generation, as a state machine: stream from the upstream, publish every event, persist the end.

SQL is touched twice per generation (`schema.store`): its start is read when the
job is taken; its final message is written once, guarded by `status = 'processing'`
so that exactly one finisher (this worker, or one that took the job over)
publishes `new_message`. Broker and database outages are ridden out by `workers.patience`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.broker.base import BrokerFull, BrokerUnavailable
from relay.broker.documents import DocumentBus
from relay.broker.ending import Ending, end_generation
from relay.broker.fencing import FIRST_LEASE, Fenced, HistoryLost
from relay.broker.grant_store import Grants
from relay.broker.jobs import Job
from relay.broker.log import EventLog, unique_id
from relay.broker.topic_bus import TopicBus
from schema import events, keys
from schema.events import change_id
from schema.models import CANCELLED, ERROR, INTERRUPTED, SUCCESS
from schema.store import generation_start, is_processing
from schema.usage import generation_usage

from .document_changes import DocumentChanges
from .metrics import FIRST_TOKEN_SECONDS, GENERATIONS, PUBLISH_SECONDS
from .patience import BROKER_FULL, BROKER_LOST, patiently, until_it_lands
from .providers.tool_calls import ToolStep
from .providers.tool_history import ToolRecord
from .providers.vocabulary import (
    Changes,
    Chunk,
    Complete,
    GenerationRequest,
    ProviderFor,
    Status,
    UpstreamError,
    Usage,
    no_final_answer,
)

logger = logging.getLogger(__name__)

WORKER_FAILED = "The worker failed unexpectedly."


@dataclass
class Outcome:
    """How the generation ended, and what it had produced by then."""

    status: str = SUCCESS
    error: str | None = None
    content: list[str] = field(default_factory=list)
    early_changes: list[dict[str, Any]] = field(default_factory=list)
    complete: Complete | None = None
    usage: dict[str, Any] = field(default_factory=dict)  # reported before the end (tool rounds)


class Generation:
    def __init__(
        self,
        job: Job,
        event_log: EventLog,
        topics: TopicBus,
        grants: Grants,
        db: async_sessionmaker[AsyncSession],
        provider_for: ProviderFor,
        max_seconds: float,
        sql_turns: asyncio.Semaphore,
        documents: DocumentBus,
    ) -> None:
        self.job = job
        # Shared by a worker's generations: many starting (or ending) at once take turns at SQL,
        # so that their queries do not stall the streams already running in this process.
        self.sql_turns = sql_turns
        self.max_seconds = max_seconds
        self.session_id = job.fields["session_id"]
        self.message_id = job.fields["message_id"]
        self.event_log = event_log
        self.topics = topics
        self.db = db
        self.provider_for = provider_for
        self.documents = DocumentChanges(self.session_id, grants, documents, db, sql_turns)
        self.outcome = Outcome()
        self.tools = ToolRecord()
        self.ending: tuple[str, str | None] | None = None
        self.streaming: asyncio.Task[None] | None = None
        self.awaiting_upstream = False
        self.lease = FIRST_LEASE  # a job runs its generation once: a takeover ends the message, never reruns it
        self.fenced = False  # a publish was refused: the message was ended by another meanwhile
        self.prompt_chars = 0  # what was sent upstream, to estimate usage the upstream did not report

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
        started = await self._start()
        if started is None:
            return  # finished already: a duplicate or late job
        request, tenant_settings, stopped = started
        if stopped:
            self.end_early(CANCELLED, None)
        if self.ending is None:
            try:
                await self._publish_live(events.MESSAGE_PROCESSING, {"session_id": self.session_id})
            except Fenced:  # ended (stopped, taken over) before it began
                self.fenced = True
            except BrokerFull:
                self.end_early(INTERRUPTED, BROKER_FULL)
        if self.ending is None and not self.fenced:
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
        except Fenced:
            # Frozen past the takeover: the upstream request is closed already (leaving `_stream`).
            logger.warning("generation %s was ended by another meanwhile; publishing no more of it", self.message_id)
            self.fenced = True
        except UpstreamError as exc:
            self.outcome.status, self.outcome.error = exc.status, exc.message
        except BrokerUnavailable as exc:
            self.outcome.status = INTERRUPTED
            self.outcome.error = BROKER_FULL if isinstance(exc, BrokerFull) else BROKER_LOST
        except Exception:
            logger.exception("generation %s failed", self.message_id)
            self.outcome.status, self.outcome.error = ERROR, WORKER_FAILED  # the details are in the log
        finally:
            deadline.cancel()

    async def _start(self) -> tuple[GenerationRequest, dict[str, Any], bool] | None:
        """The upstream request and settings, and whether a stop came first (asked of the broker while SQL is read)."""
        stop = keys.STOP_TOPIC, self.message_id.encode()
        asked = asyncio.ensure_future(
            patiently(f"check for a stop of {self.message_id}", lambda: self.topics.kept(*stop))
        )
        try:
            async with self.sql_turns:
                start = await generation_start(self.db, self.session_id, self.message_id)
            if start is None:
                return None
            request = GenerationRequest(
                start.question, start.history, start.context, meta={"session_id": self.session_id,
                "message_id": self.message_id}, tenant=start.tenant, user_id=start.user_id,
            )  # fmt: skip
            if texts := await self.documents.start(start.documents):  # the hosted documents' texts, as context
                request = replace(request, context={**request.context, **texts})
            self.prompt_chars = sum(len(m["content"]) for m in request.history) + len(request.content)
            return request, start.tenant_settings, await asked
        finally:
            if not asked.done():
                asked.cancel()
            elif not asked.cancelled():
                asked.exception()  # retrieved: a failure left unawaited is no longer of interest

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
                    raise no_final_answer()
                if isinstance(event, Chunk):
                    if event.content:
                        if not outcome.content:
                            FIRST_TOKEN_SECONDS.observe(time.monotonic() - started)
                        outcome.content.append(event.content)
                        await self._publish_live(events.STREAMING_CHUNK, {"content": event.content})
                elif isinstance(event, Status):
                    await self._publish_live(events.STREAMING_STATUS, {"text": event.text})
                elif isinstance(event, Changes):
                    entry = {"change_id": change_id(self.message_id, event.changes), "changes": event.changes}
                    outcome.early_changes.append(entry)
                    targets = await self.documents.grant(entry)  # granted to the relay before any tab can claim it
                    await self._publish_live(events.STREAMING_CHANGES, {**entry, "applied": False})
                    if targets is not None:
                        await self._apply(entry["change_id"], targets)
                elif isinstance(event, Usage):
                    outcome.usage = event.usage
                elif isinstance(event, ToolStep):
                    self.tools.note(event)
                    await self._publish_live(events.STREAMING_TOOL, event.payload())
                elif isinstance(event, Complete):
                    outcome.complete = event
                    return

    async def _publish_live(self, event: str, payload: dict[str, Any]) -> None:
        """Publish an event of the message in flight, keeping the session's snapshot whole.

        If the session's history was lost meanwhile (Redis restarted without its data, or it expired while
        this worker was frozen), the event is refused (`HistoryLost`): if the message is still this
        generation's to finish, publish it so far again into a new history, so that tabs (re)joining it see all
        of it; if another finished it meanwhile, stop (`Fenced`).
        """
        try:
            await self._publish(event, payload)
        except HistoryLost:
            if not await self._still_processing():
                raise Fenced(f"{self.message_id} was finished by another while its history was lost") from None
            logger.warning("session %s lost its history; restoring %s", self.session_id, self.message_id)
            await self._publish(events.MESSAGE_PROCESSING, {"session_id": self.session_id})
            for entry in self.outcome.early_changes:
                await self._publish(events.STREAMING_CHANGES, {**entry, "applied": False})
            await self._publish(events.STREAMING_CHUNK, {"content": "".join(self.outcome.content)})
            if event not in (events.STREAMING_CHUNK, events.STREAMING_CHANGES):  # those are in the above
                await self._publish(event, payload)

    async def _still_processing(self) -> bool:
        async def read() -> bool:
            async with self.sql_turns, self.db() as db:
                return await is_processing(db, self.message_id)

        return await until_it_lands(read, self.max_seconds, f"the status of {self.message_id}")

    async def _apply(self, change: str, targets: dict[str, str]) -> None:
        """The relay applies the change to the session's documents; every tab learns it was (by nobody)."""
        if await self.documents.apply(change, targets):
            await self._publish(events.CHANGES_APPLIED, {"change_id": change, "user_id": None})

    async def _publish(self, event: str, payload: dict[str, Any]) -> None:
        """Publish patiently, and once however often it is retried."""
        publish_id = unique_id()
        started = time.perf_counter()  # not the histogram's timer: its context manager costs more than observing
        try:
            await patiently(
                f"publish {event} of {self.message_id}",
                lambda: self.event_log.publish(
                    self.session_id, event, self.message_id, payload, publish_id, self.lease
                ),
            )
        finally:
            PUBLISH_SECONDS.observe(time.perf_counter() - started)

    async def _finish(self) -> None:
        outcome = self.outcome
        if self.fenced and outcome.complete is None:
            return  # the takeover's record stands: without the whole answer this one is no better
        if outcome.complete is not None:
            content = outcome.complete.response
            changes = [{"change_id": change_id(self.message_id, c), "changes": c} for c in outcome.complete.changes]
            reported = outcome.complete.usage
        else:
            content, changes, reported = "".join(outcome.content), outcome.early_changes, outcome.usage
        usage = generation_usage(reported, self.prompt_chars, content)
        for entry in changes:  # the final message's own changes (an early one is granted already)
            targets = await self.documents.grant(entry)
            if targets is not None:
                await self._apply(entry["change_id"], targets)
        with contextlib.suppress(Fenced):  # ended by a takeover meanwhile: the steps ended with it
            for step in self.tools.unfinished_steps():  # stopped or failed mid-call: its step ends too
                await self._publish(events.STREAMING_TOOL, step.payload())
        ending = Ending(outcome.status, content, outcome.error, changes, usage, self.tools.final())
        await end_generation(
            self.db, self.message_id, ending, self._publish, replaces_takeover=True, landing=self._land
        )  # announces nothing if finished by a worker that took the job over

    async def _land(self, write: Callable[[], Awaitable[dict[str, Any] | None]]) -> dict[str, Any] | None:
        """The final write, in turn with the process's other SQL users, retried until it lands; counted once."""

        async def in_turn() -> dict[str, Any] | None:
            async with self.sql_turns:
                return await write()

        final = await until_it_lands(in_turn, self.max_seconds, f"the final write of {self.message_id}")
        if final is not None:
            GENERATIONS.labels(self.outcome.status).inc()
        return final
