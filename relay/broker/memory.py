"""The in-memory broker, for one process (`streamrelay dev` and tests)."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from dataclasses import dataclass, field

from schema import events, keys

from .base import Broker
from .jobs import Job
from .log import (
    SNAPSHOT_CHANGE,
    SNAPSHOT_CHUNK,
    SNAPSHOT_FINISH,
    SNAPSHOT_START,
    SNAPSHOT_STATUS,
    Position,
    Snapshot,
    Streaming,
    decode_changes,
    new_epoch,
    replay_from,
)
from .presence_memory import MemoryPresence


@dataclass
class _Session:
    epoch: str
    log: deque[tuple[int, bytes]]
    seq: int = 0
    message_id: str | None = None
    content: list[str] = field(default_factory=list)
    status: str = ""
    changes: bytes = b""
    applied: set[str] = field(default_factory=set)
    publish_id: str = ""
    page_seq: int = 0
    page: bytes | None = None


class MemoryBroker(Broker):
    def __init__(self, log_maxlen: int = 2000) -> None:
        self.log_maxlen = log_maxlen
        self.sessions: dict[str, _Session] = {}
        self.topics: set[str] = set()
        self.presence = MemoryPresence(self._broadcast)
        self.jobs: deque[Job] = deque()
        self.pending: dict[str, Job] = {}
        self.job_ids = itertools.count(1)
        self.job_ready = asyncio.Event()
        self.stops: set[str] = set()

    async def close(self) -> None:
        self.topics.clear()

    async def ping(self) -> bool:
        return True

    def _session(self, session_id: str) -> _Session:
        session = self.sessions.get(session_id)
        if session is None:
            session = self.sessions[session_id] = _Session(new_epoch(), deque(maxlen=self.log_maxlen))
        return session

    async def _publish(
        self, session_id: str, head: bytes, op: str, message_id: str, value: bytes, publish_id: str, page: bool
    ) -> tuple[int, str]:
        session = self._session(session_id)
        if session.publish_id == publish_id:
            return session.seq, session.epoch
        session.publish_id = publish_id
        session.seq += 1
        if page:
            session.page_seq = session.seq
        data = head + events.encode_tail(session.seq, session.epoch)
        session.log.append((session.seq, data))
        if op == SNAPSHOT_START:
            session.message_id, session.content, session.status, session.changes = message_id, [], "", b""
            session.status = value.decode()
        elif op == SNAPSHOT_CHUNK:
            session.content.append(value.decode())
        elif op == SNAPSHOT_STATUS:
            session.status = value.decode()
        elif op == SNAPSHOT_CHANGE:
            session.changes += value
        elif op == SNAPSHOT_FINISH:
            session.message_id = None
        topic = keys.topic(session_id)
        if topic in self.topics:
            self._deliver(topic, data)
        return session.seq, session.epoch

    def _broadcast(self, topic: str, data: bytes) -> None:
        if topic in self.topics:
            self._deliver(topic, data)

    async def subscribe(self, topic: str) -> None:
        self.topics.add(topic)

    async def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)

    async def snapshot(self, session_id: str) -> Snapshot:
        session = self._session(session_id)
        streaming = None
        if session.message_id is not None:
            streaming = Streaming(
                session.message_id, "".join(session.content), session.status, *decode_changes(session.changes)
            )
        return Snapshot(session.epoch, session.seq, streaming, session.page_seq)

    async def position(self, session_id: str, since: tuple[str, int] | None, start: bool = False) -> Position:
        session = self.sessions.get(session_id)
        if session is None and not start:
            return Position(Snapshot("", 0), None, None)
        session = self._session(session_id)
        if since is not None and since[0] == session.epoch:
            replayed = replay_from(session.seq, since[1], session.log)
            if replayed is not None:
                return Position(Snapshot(session.epoch, session.seq, None, session.page_seq), replayed, session.page)
        return Position(await self.snapshot(session_id), None, session.page)

    async def store_page(self, session_id: str, data: bytes) -> None:
        self._session(session_id).page = data

    async def claim(self, session_id: str, change_id: str) -> bool:
        applied = self._session(session_id).applied
        if change_id in applied:
            return False
        applied.add(change_id)
        return True

    async def release(self, session_id: str, change_id: str) -> None:
        self._session(session_id).applied.discard(change_id)

    async def request_stop(self, message_id: str) -> None:
        self.stops.add(message_id)
        if keys.STOP_TOPIC in self.topics:
            self._deliver(keys.STOP_TOPIC, message_id.encode())

    async def stop_requested(self, message_id: str) -> bool:
        return message_id in self.stops

    async def settings_changed(self, tenant_id: str) -> None:
        if keys.SETTINGS_TOPIC in self.topics:
            self._deliver(keys.SETTINGS_TOPIC, tenant_id.encode())

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
