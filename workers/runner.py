"""The worker: take jobs, run up to N generations at once, take over lost ones.

A job stays pending in the consumer group until its generation is persisted.
While it runs, the worker keeps it fresh; a worker that vanishes stops doing
so, and after `JOB_CLAIM_IDLE_SECONDS` another worker takes the job over and
finishes the message as interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.broker.base import Broker, BrokerUnavailable
from relay.broker.jobs import Job
from relay.settings import Settings
from schema import keys
from schema.models import CANCELLED, INTERRUPTED, utcnow
from schema.store import stale_generations, warm_up

from .admission import LoopLag
from .ending import finish_lost
from .generation import Generation
from .providers.vocabulary import ProviderFor

logger = logging.getLogger(__name__)

SHUT_DOWN = "The worker shut down before the response was complete."
READ_BLOCK_SECONDS = 0.25  # a short block: a stopping worker notices within it
TAKE_AT_ONCE = 8  # jobs one read may take, when this worker has that many slots free: a burst costs few reads
SQL_TURNS_PER_GENERATIONS = 32  # a worker's generations at SQL at once (their start and end): 2 up to 64 running


def sql_turns(concurrency: int) -> int:
    """Generations of a worker at SQL at once; its pool holds one connection more, for the sweep of lost jobs."""
    return max(2, -(-concurrency // SQL_TURNS_PER_GENERATIONS))


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Worker:
    def __init__(
        self,
        settings: Settings,
        broker: Broker,
        db: async_sessionmaker[AsyncSession],
        provider_for: ProviderFor,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.broker = broker
        self.db = db
        self.provider_for = provider_for
        self.name = name or consumer_name()
        self.running: dict[str, tuple[Job, Generation, asyncio.Task[None]]] = {}
        self.free = asyncio.Semaphore(settings.worker_concurrency)
        self.sql_turns = asyncio.Semaphore(sql_turns(settings.worker_concurrency))
        self.admission = LoopLag(settings.worker_max_loop_lag)
        self.stopping = asyncio.Event()
        self.drained = asyncio.Event()
        self.chores: set[asyncio.Task[None]] = set()

    # TopicHandler of stop requests (`keys.STOP_TOPIC`)

    def deliver(self, topic: str, data: bytes) -> None:
        running = self.running.get(data.decode(errors="replace"))
        if running is not None:
            running[1].end_early(CANCELLED, None)

    def resubscribed(self) -> None:
        """Stop requests may have been missed while the broker was away: look them up."""
        task = asyncio.create_task(self._recheck_stops())
        self.chores.add(task)
        task.add_done_callback(self.chores.discard)  # one per reconnect: do not keep them all

    async def _recheck_stops(self) -> None:
        for message_id, (_, generation, _) in list(self.running.items()):
            with contextlib.suppress(BrokerUnavailable):
                if await self.broker.topics.kept(keys.STOP_TOPIC, message_id.encode()):
                    generation.end_early(CANCELLED, None)

    # running

    async def run(self) -> None:
        """Work until `shutdown()`; then let generations finish within the grace period."""
        await self.broker.topics.subscribe(keys.STOP_TOPIC, self)
        await self._warm_up()
        self.chores |= {
            asyncio.create_task(self._keep_alive(), name="keep jobs alive"),
            asyncio.create_task(self._take_over_lost(), name="take over lost jobs"),
            asyncio.create_task(self.admission.run(), name="probe the loop's lag"),
        }
        try:
            await self._take_jobs()
            await self._drain()
        finally:
            self.drained.set()
            for chore in list(self.chores):
                chore.cancel()
            await asyncio.gather(*self.chores, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self.broker.topics.unsubscribe(keys.STOP_TOPIC, self)

    async def _warm_up(self) -> None:
        """Before the first job: the SQL connections a generation's start and end use opened, and their
        statements compiled, so that the first generations do not pay for them (a burst would pay all at once)."""
        try:
            await warm_up(self.db, sql_turns(self.settings.worker_concurrency))
        except Exception as exc:  # not ready yet: the first generations will wait for it, as they always did
            logger.warning("could not warm the SQL connections up: %s", exc)

    def shutdown(self) -> None:
        self.stopping.set()

    async def _take_jobs(self) -> None:
        while not self.stopping.is_set():
            await self.free.acquire()
            if not self.admission.admitting:  # out of CPU: leave the job to another worker, or to a later moment
                await self._admitted_or_stopping()
            if self.stopping.is_set():
                self.free.release()
                return
            slots = 1
            while slots < TAKE_AT_ONCE and not self.free.locked():
                await self.free.acquire()  # free: returns at once
                slots += 1
            try:
                jobs = await self.broker.jobs.take(self.name, slots, block_seconds=READ_BLOCK_SECONDS)
            except BrokerUnavailable as exc:
                jobs = []
                logger.warning("cannot read jobs: %s", exc)
                await asyncio.sleep(1.0)
            for _ in range(slots - len(jobs)):
                self.free.release()
            for job in jobs:
                self._start(job)

    async def _admitted_or_stopping(self) -> None:
        waits = {asyncio.ensure_future(self.admission.ready()), asyncio.ensure_future(self.stopping.wait())}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()

    def _start(self, job: Job) -> None:
        generation = Generation(
            job, event_log=self.broker.event_log, topics=self.broker.topics, grants=self.broker.grants, db=self.db,
            provider_for=self.provider_for, max_seconds=self.settings.generation_max_seconds, sql_turns=self.sql_turns,
            documents=self.broker.documents,
        )  # fmt: skip
        task = asyncio.create_task(self._run_generation(job, generation), name=f"generation {generation.message_id}")
        self.running[generation.message_id] = (job, generation, task)

    async def _run_generation(self, job: Job, generation: Generation) -> None:
        try:
            await generation.run()
        except Exception:
            # Left pending: once this worker stops keeping it alive, a worker takes it over.
            logger.exception("generation %s did not finish; leaving its job for takeover", generation.message_id)
            return
        finally:
            self.running.pop(generation.message_id, None)
            self.free.release()
        try:
            await self.broker.jobs.ack(job.id)
        except Exception as exc:
            # Harmless: whoever takes the job over finds its message finished and acknowledges it.
            logger.warning("could not acknowledge the finished job %s: %s", job.id, exc)

    async def _drain(self) -> None:
        tasks = [task for _, _, task in self.running.values()]
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace_seconds)
        for _, generation, _ in list(self.running.values()):
            generation.end_early(INTERRUPTED, SHUT_DOWN)
        if late:
            await asyncio.wait(late)

    async def _every(self, seconds: float) -> bool:
        """Sleep `seconds`; False once the worker is done (even if a cancellation got swallowed)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drained.wait(), seconds)
        return not self.drained.is_set()

    async def _keep_alive(self) -> None:
        while await self._every(self.settings.job_claim_idle_seconds / 3):
            ids = [job.id for job, _, _ in self.running.values()]
            try:
                await self.broker.jobs.keep_alive(self.name, ids)
            except Exception as exc:  # whatever it is, keep trying: a job left silent gets taken over
                logger.warning("cannot keep jobs alive: %s", exc)

    async def _take_over_lost(self) -> None:
        while await self._every(self.settings.job_claim_idle_seconds / 3):
            try:
                jobs = await self.broker.jobs.take_over(self.name, self.settings.job_claim_idle_seconds, 10)
                for job in jobs:
                    if job.fields.get("message_id") not in self.running:
                        logger.warning("taking over job %s of a lost worker", job.id)
                        session_id, message_id = job.fields["session_id"], job.fields["message_id"]
                        await finish_lost(session_id, message_id, self.broker.event_log, self.db)
                    await self.broker.jobs.ack(job.id)
                await self._finish_stale()
            except BrokerUnavailable as exc:
                logger.warning("cannot look for lost jobs: %s", exc)
            except Exception:
                logger.exception("taking over lost jobs failed")

    async def _finish_stale(self) -> None:
        """The backstop: a message left `processing` past any generation's lifetime is ended as interrupted.

        Its job may be gone (a Redis restart without persistence), so no takeover would find it.
        """
        lifetime = self.settings.generation_max_seconds + 2 * self.settings.job_claim_idle_seconds
        for session_id, message_id in await stale_generations(self.db, utcnow() - timedelta(seconds=lifetime)):
            if message_id not in self.running:
                logger.warning("ending generation %s, left processing past its lifetime", message_id)
                await finish_lost(session_id, message_id, self.broker.event_log, self.db)
