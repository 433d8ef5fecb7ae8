"""The in-memory broker, for one process (`streamrelay dev` and tests): its roles over shared state."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

from .base import Broker
from .documents_memory import MemoryDocuments
from .expiring import Expiring
from .grant_store import Grants
from .jobs import Job, JobQueue
from .limits_memory import MemoryLimits
from .memory_log import MemoryEventLog, MemorySessions
from .presence_memory import MemoryPresence
from .topic_bus import Router, TopicBus, TopicHandler


class MemoryBroker(Broker):
    def __init__(self, log_maxlen: int = 2000, ttl_seconds: float = 600, log_max_bytes: int = 1024 * 1024) -> None:
        self.router = Router()
        self.sessions = MemorySessions(ttl_seconds)
        self.topics = MemoryTopics(self.router, ttl_seconds)
        self.event_log = MemoryEventLog(self.sessions, self.topics, self.router, log_maxlen, log_max_bytes)
        self.jobs = MemoryJobs()
        self.grants = MemoryGrants(self.sessions)
        self.documents = MemoryDocuments(self.topics)
        self.presence = MemoryPresence(self.router.deliver)
        self.limits = MemoryLimits()

    async def start(self) -> None:
        """Nothing to connect to."""

    async def close(self) -> None:
        self.router.handlers.clear()

    async def ping(self) -> bool:
        return True


class MemoryTopics(TopicBus):
    """Subscribing is registering: one process hears everything it publishes."""

    def __init__(self, router: Router, ttl_seconds: float) -> None:
        self.router = router
        self.kept_announcements: Expiring[tuple[str, bytes], bool] = Expiring(ttl_seconds)  # as Redis keeps their keys

    async def subscribe(self, topic: str, handler: TopicHandler) -> None:
        self.router.add(topic, handler)

    async def unsubscribe(self, topic: str, handler: TopicHandler) -> None:
        self.router.remove(topic, handler)

    async def announce(self, topic: str, data: bytes, keep: bool = False) -> None:
        if keep:
            self.kept_announcements.put((topic, data), True)
        self.router.deliver(topic, data)

    async def kept(self, topic: str, data: bytes) -> bool:
        return self.kept_announcements.get((topic, data)) is not None


class MemoryGrants(Grants):
    """Kept in the session's state: they expire with its history, as on Redis."""

    def __init__(self, sessions: MemorySessions) -> None:
        self.sessions = sessions

    async def grant(self, session_id: str, change_id: str) -> bool:
        session = self.sessions.get(session_id)
        if change_id in session.applied:
            return False
        session.applied.add(change_id)
        self.sessions.renew(session_id, session)
        return True

    async def release(self, session_id: str, change_id: str) -> None:
        self.sessions.get(session_id).applied.discard(change_id)


class MemoryJobs(JobQueue):
    def __init__(self) -> None:
        self.jobs: deque[Job] = deque()
        self.pending: dict[str, Job] = {}
        self.job_ids = itertools.count(1)
        self.job_ready = asyncio.Event()

    async def enqueue(self, fields: dict[str, str]) -> str:
        job = Job(f"{next(self.job_ids)}-0", dict(fields))
        self.jobs.append(job)
        self.job_ready.set()
        return job.id

    async def take(self, consumer: str, count: int, block_seconds: float) -> list[Job]:
        if not self.jobs:
            self.job_ready.clear()
            try:
                await asyncio.wait_for(self.job_ready.wait(), block_seconds)
            except TimeoutError:
                return []
        taken = []
        while self.jobs and len(taken) < count:
            job = self.jobs.popleft()
            self.pending[job.id] = job
            taken.append(job)
        return taken

    async def ack(self, job_id: str) -> None:
        self.pending.pop(job_id, None)

    async def keep_alive(self, consumer: str, job_ids: list[str]) -> None:
        """One process: a job's worker cannot vanish without the broker too."""

    async def take_over(self, consumer: str, min_idle_seconds: float, count: int) -> list[Job]:
        return []

    async def counts(self) -> tuple[int, int]:
        return len(self.jobs), len(self.pending)
