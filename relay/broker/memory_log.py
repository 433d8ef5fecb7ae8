"""The event log in memory, for one process, and the session state it shares with the grants."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from schema import events, keys

from .expiring import Expiring
from .fencing import FENCE_LIVE, FENCE_NONE, LOST, Flight, refusal
from .log import (
    SNAPSHOT_CHANGE,
    SNAPSHOT_CHUNK,
    SNAPSHOT_FINISH,
    SNAPSHOT_START,
    SNAPSHOT_STATUS,
    EventLog,
    Position,
    Publication,
    Snapshot,
    Streaming,
    decode_changes,
    new_epoch,
    replay_from,
)
from .topic_bus import Router, TopicBus, TopicHandler


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
    attachment_seq: int = 0
    attachment: bytes | None = None
    lease: int = 0  # the in-flight message's
    done: str | None = None  # the message that ended last: none of its events but `new_message` is accepted
    started: bool = False  # a generation started in this epoch
    log_bytes: int = 0


class MemorySessions:
    """Every session's state, forgotten `ttl_seconds` after its last event, as Redis expires a session's keys."""

    def __init__(self, ttl_seconds: float) -> None:
        self.sessions: Expiring[str, _Session] = Expiring(ttl_seconds)

    def live(self, session_id: str) -> _Session | None:
        """The session's state, unless it expired (then it is forgotten)."""
        return self.sessions.get(session_id)

    def get(self, session_id: str) -> _Session:
        """The session's state, started (with a new epoch) if it has none."""
        session = self.live(session_id)
        if session is None:
            session = _Session(new_epoch(), deque())
            self.renew(session_id, session)
        return session

    def renew(self, session_id: str, session: _Session) -> None:
        self.sessions.put(session_id, session)


class MemoryEventLog(EventLog):
    def __init__(
        self, sessions: MemorySessions, topics: TopicBus, router: Router, log_maxlen: int, log_max_bytes: int
    ) -> None:
        self.sessions = sessions
        self.topics = topics
        self.router = router
        self.log_maxlen = log_maxlen
        self.log_max_bytes = log_max_bytes

    async def _publish(self, session_id: str, publication: Publication) -> tuple[int, str] | str:
        message_id, lease = publication.message_id, publication.lease
        known = self.sessions.live(session_id)
        if known is None and lease > 0 and publication.fence == FENCE_LIVE:
            return LOST  # never published, or expired: no history to write the message into
        session = self.sessions.get(session_id)
        if session.publish_id == publication.publish_id:
            return session.seq, session.epoch
        flight = Flight(session.message_id, session.lease, session.done, session.started)
        refused = refusal(publication.fence, lease, message_id, flight)
        if refused is not None:
            return refused
        if lease > 0 and publication.fence != FENCE_NONE and session.message_id == message_id:
            session.lease = lease
        session.publish_id = publication.publish_id
        self.sessions.renew(session_id, session)
        session.seq += 1
        if publication.outdates:
            session.attachment_seq = session.seq
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
        self.router.deliver(keys.topic(session_id), data)
        return session.seq, session.epoch

    def _log(self, session: _Session, data: bytes) -> None:
        """Append, then drop the oldest entries past the caps (never the newest)."""
        session.log.append((session.seq, data))
        session.log_bytes += len(data)
        while len(session.log) > 1 and (len(session.log) > self.log_maxlen or session.log_bytes > self.log_max_bytes):
            session.log_bytes -= len(session.log.popleft()[1])

    async def subscribe(self, topic: str, handler: TopicHandler) -> None:
        await self.topics.subscribe(topic, handler)

    async def unsubscribe(self, topic: str, handler: TopicHandler) -> None:
        await self.topics.unsubscribe(topic, handler)

    async def snapshot(self, session_id: str, start: bool = True) -> Snapshot:
        session = self.sessions.get(session_id) if start else self.sessions.live(session_id)
        if session is None:
            return Snapshot("", 0)
        streaming = None
        if session.message_id is not None:
            streaming = Streaming(
                session.message_id,
                "".join(session.content),
                session.status,
                *decode_changes(session.changes),
                lease=session.lease,
            )
        return Snapshot(session.epoch, session.seq, streaming, session.attachment_seq)

    async def position(self, session_id: str, since: tuple[str, int] | None, start: bool = False) -> Position:
        session = self.sessions.live(session_id)
        if session is None and not start:
            return Position(Snapshot("", 0), None, None)
        session = self.sessions.get(session_id)
        if since is not None and since[0] == session.epoch:
            replayed = replay_from(session.seq, since[1], session.log)
            if replayed is not None:
                snapshot = Snapshot(session.epoch, session.seq, None, session.attachment_seq)
                return Position(snapshot, replayed, session.attachment)
        return Position(await self.snapshot(session_id), None, session.attachment)

    async def store_attachment(self, session_id: str, data: bytes) -> None:
        session = self.sessions.get(session_id)
        session.attachment = data
        self.sessions.renew(session_id, session)
