"""The in-memory broker, for one process (`streamrelay dev` and tests)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from schema import events, keys

from .base import Broker
from .documents_memory import MemoryDocuments
from .fencing import FENCE_LIVE, FENCE_NONE, LOST, Flight, refusal
from .jobs import Job
from .limits_memory import MemoryLimits
from .log import (
    SNAPSHOT_CHANGE,
    SNAPSHOT_CHUNK,
    SNAPSHOT_FINISH,
    SNAPSHOT_START,
    SNAPSHOT_STATUS,
    Position,
    Publication,
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
    lease: int = 0  # the in-flight message's
    done: str | None = None  # the message that ended last: none of its events but `new_message` is accepted
    started: bool = False  # a generation started in this epoch
    log_bytes: int = 0
    expires: float = 0.0  # monotonic: `ttl_seconds` after its last event, as Redis expires a session's keys


class MemoryBroker(MemoryDocuments, Broker):
    def __init__(self, log_maxlen: int = 2000, ttl_seconds: float = 600, log_max_bytes: int = 1024 * 1024) -> None:
        self.log_maxlen = log_maxlen
        self.ttl_seconds = ttl_seconds
        self.log_max_bytes = log_max_bytes
        self.sessions: OrderedDict[str, _Session] = OrderedDict()  # the least recently renewed first
        self.topics: set[str] = set()
        self.presence = MemoryPresence(self._broadcast)
        self.limits = MemoryLimits()
        self.jobs: deque[Job] = deque()
        self.pending: dict[str, Job] = {}
        self.job_ids = itertools.count(1)
        self.job_ready = asyncio.Event()
        self.stops: set[str] = set()
        self.doc_logs: dict[str, list[tuple[int, bytes]]] = {}
        self.doc_ids = itertools.count(1)

    async def close(self) -> None:
        self.topics.clear()

    async def ping(self) -> bool:
        return True

    def _live(self, session_id: str) -> _Session | None:
        """The session's state, unless it expired (then it is forgotten, as Redis forgets its keys)."""
        self._expire()
        return self.sessions.get(session_id)

    def _session(self, session_id: str) -> _Session:
        session = self._live(session_id)
        if session is None:
            session = self.sessions[session_id] = _Session(new_epoch(), deque())
            self._renew(session_id, session)
        return session

    def _renew(self, session_id: str, session: _Session) -> None:
        session.expires = time.monotonic() + self.ttl_seconds
        self.sessions.move_to_end(session_id)

    def _expire(self) -> None:
        now = time.monotonic()
        while self.sessions and next(iter(self.sessions.values())).expires <= now:
            self.sessions.popitem(last=False)

    async def _publish(self, session_id: str, publication: Publication) -> tuple[int, str] | str:
        message_id, lease = publication.message_id, publication.lease
        known = self._live(session_id)
        if known is None and lease > 0 and publication.fence == FENCE_LIVE:
            return LOST  # never published, or expired: no history to write the message into
        session = self._session(session_id)
        if session.publish_id == publication.publish_id:
            return session.seq, session.epoch
        flight = Flight(session.message_id, session.lease, session.done, session.started)
        refused = refusal(publication.fence, lease, message_id, flight)
        if refused is not None:
            return refused
        if lease > 0 and publication.fence != FENCE_NONE and session.message_id == message_id:
            session.lease = lease
        session.publish_id = publication.publish_id
        self._renew(session_id, session)
        session.seq += 1
        if publication.page:
            session.page_seq = session.seq
        data = events.envelope(publication.entry, message_id, session.seq, session.epoch)
        self._log(session, data)
        op, value = publication.op, publication.value
        if op == SNAPSHOT_START:
            session.message_id, session.content, session.status, session.changes = message_id, [], "", b""
            session.status, session.lease, session.started = value.decode(), lease, True
        elif op == SNAPSHOT_CHUNK:
            session.content.append(value.decode())
        elif op == SNAPSHOT_STATUS:
            session.status = value.decode()
        elif op == SNAPSHOT_CHANGE:
            session.changes += value
        elif op == SNAPSHOT_FINISH:
            session.done = message_id
            if session.message_id == message_id:
                session.message_id, session.lease = None, 0
        topic = keys.topic(session_id)
        if topic in self.topics:
            self._deliver(topic, data)
        return session.seq, session.epoch

    def _log(self, session: _Session, data: bytes) -> None:
        """Append, then drop the oldest entries past the caps (never the newest)."""
        session.log.append((session.seq, data))
        session.log_bytes += len(data)
        while len(session.log) > 1 and (len(session.log) > self.log_maxlen or session.log_bytes > self.log_max_bytes):
            session.log_bytes -= len(session.log.popleft()[1])

    def _broadcast(self, topic: str, data: bytes) -> None:
        if topic in self.topics:
            self._deliver(topic, data)

    async def subscribe(self, topic: str) -> None:
        self.topics.add(topic)

    async def unsubscribe(self, topic: str) -> None:
        self.topics.discard(topic)

    async def snapshot(self, session_id: str, start: bool = True) -> Snapshot:
        session = self._session(session_id) if start else self._live(session_id)
        if session is None:
            return Snapshot("", 0)
        streaming = None
        if session.message_id is not None:
            streaming = Streaming(
                session.message_id, "".join(session.content), session.status, *decode_changes(session.changes),
                lease=session.lease,
            )
        return Snapshot(session.epoch, session.seq, streaming, session.page_seq)

    async def position(self, session_id: str, since: tuple[str, int] | None, start: bool = False) -> Position:
        session = self._live(session_id)
        if session is None and not start:
            return Position(Snapshot("", 0), None, None)
        session = self._session(session_id)
        if since is not None and since[0] == session.epoch:
            replayed = replay_from(session.seq, since[1], session.log)
            if replayed is not None:
                return Position(Snapshot(session.epoch, session.seq, None, session.page_seq), replayed, session.page)
        return Position(await self.snapshot(session_id), None, session.page)

    async def store_page(self, session_id: str, data: bytes) -> None:
        session = self._session(session_id)
        session.page = data
        self._renew(session_id, session)

    async def grant(self, session_id: str, change_id: str) -> bool:
        session = self._session(session_id)
        if change_id in session.applied:
            return False
        session.applied.add(change_id)
        self._renew(session_id, session)
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
