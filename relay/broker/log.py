"""The event log role: a session's events in order, live and replayable.

`publish` assigns the next `seq` within the session's `epoch`, appends to the
capped log, updates the snapshot of the in-flight message and publishes, all in
one atomic step. A session's topic (`keys.topic`) is subscribed on the topic bus,
with a handler that receives it alone (the gateway's fan-out). A position is read
with the session's cached attachment: bytes a reader stores beside the history
and checks against the position (what a joining reader would otherwise build again).
"""

from __future__ import annotations

import abc
import itertools
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgpack

from schema import events

from .fencing import FIRST_LEASE, LOST, Fenced, HistoryLost, fence_kind
from .jobs import JobQueue
from .topic_bus import TopicHandler


@dataclass(frozen=True)
class Streaming:
    """The in-flight message, as far as it has streamed, and the lease its publishes need."""

    message_id: str
    content: str
    status: str
    changes: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)  # the newest `streaming_tool` payload of each call
    lease: int = FIRST_LEASE

    def to_dict(self, seq: int) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "content": self.content,
            "status": self.status,
            "changes": self.changes,
            "tools": self.tools,
            "seq": seq,
        }


@dataclass(frozen=True)
class Snapshot:
    """A session's position (`epoch`, `seq`) and its in-flight message, read atomically.

    `attachment_seq`: the seq of the session's last event that outdates a cached attachment
    (`events.PAGE_EVENTS`), 0 if none.
    """

    epoch: str
    seq: int
    streaming: Streaming | None = None
    attachment_seq: int = 0

    def streamed(self, message_id: str) -> tuple[str, list[dict[str, Any]]] | None:
        """What `message_id` had streamed, if it is the message in flight: its content and its changes
        as a final write stores them (without `applied`, which the applied-changes table decides)."""
        if self.streaming is None or self.streaming.message_id != message_id:
            return None
        changes = [{"change_id": c["change_id"], "changes": c["changes"]} for c in self.streaming.changes]
        return self.streaming.content, changes

    def takeover_lease(self, message_id: str) -> int:
        """The lease that fences whoever published `message_id` so far, for a takeover that ends it."""
        held = self.streaming.lease if self.streaming is not None and self.streaming.message_id == message_id else 0
        return max(held, FIRST_LEASE) + 1


@dataclass(frozen=True)
class Position:
    """Where a joining tab starts, read atomically with the session's cached attachment (`store_attachment`).

    `replayed`: every event after the tab's `since`, when it gave one and the log still holds them all;
    otherwise None, and the snapshot's `streaming` is the in-flight message. The snapshot's epoch is ""
    when the session has none (no history yet, or it expired) and none was to be started.
    """

    snapshot: Snapshot
    replayed: list[bytes] | None
    attachment: bytes | None


class Publication(NamedTuple):
    """One event as a broker stores and publishes it (a named tuple: made once per streamed chunk, and a frozen
    dataclass's constructor costs more than twice as much).

    `entry`: the event as the log keeps it (`events.encode_entry`); `op`, `value`: how it changes the snapshot
    (`snapshot_op`); `outdates`: it outdates a cached attachment, its seq becomes the session's
    `attachment_seq`; `lease`, `fence`: the
    publisher's lease and how it is checked (`fenced`).
    """

    entry: bytes
    op: str
    message_id: str
    value: bytes
    publish_id: str
    outdates: bool
    lease: int
    fence: str


# How each event changes the snapshot of the in-flight message.
SNAPSHOT_START = "start"
SNAPSHOT_CHUNK = "chunk"
SNAPSHOT_STATUS = "status"
SNAPSHOT_CHANGE = "change"
SNAPSHOT_FINISH = "finish"
SNAPSHOT_NONE = "none"


def snapshot_op(event: str, payload: dict[str, Any]) -> tuple[str, bytes]:
    """(operation, value) that `event` applies to the snapshot; shared by both brokers."""
    if event == events.MESSAGE_PROCESSING:
        return SNAPSHOT_START, b"processing"
    if event == events.STREAMING_CHUNK:
        return SNAPSHOT_CHUNK, payload["content"].encode()
    if event == events.STREAMING_STATUS:
        return SNAPSHOT_STATUS, payload["text"].encode()
    if event == events.STREAMING_CHANGES:
        change = {"change_id": payload["change_id"], "changes": payload["changes"]}
        return SNAPSHOT_CHANGE, msgpack.packb(change)
    if event == events.STREAMING_TOOL:  # kept with the changes, told apart when read (`decode_changes`)
        return SNAPSHOT_CHANGE, msgpack.packb({"tool": payload})
    if event == events.NEW_MESSAGE:
        return SNAPSHOT_FINISH, b""
    return SNAPSHOT_NONE, b""


def decode_changes(packed: bytes) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The snapshot keeps changes and tool steps as concatenated msgpack maps, appendable in place:
    (the changes, the newest step of each tool call in the order the calls began)."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(packed)
    changes: list[dict[str, Any]] = []
    tools: dict[str, dict[str, Any]] = {}
    for entry in unpacker:
        if "tool" in entry:
            tools[str(entry["tool"].get("call_id"))] = entry["tool"]
        else:
            changes.append({**entry, "applied": False})
    return changes, list(tools.values())


_PROCESS = secrets.token_hex(4)
_COUNTER = itertools.count()


def unique_id() -> str:
    """Unique across processes and time, without asking the OS for randomness on every event."""
    return f"{_PROCESS}{next(_COUNTER):x}"


def new_epoch() -> str:
    return unique_id()


def replay_from(seq: int, since_seq: int, log: Iterable[tuple[int, bytes]]) -> list[bytes] | None:
    """The events of `log` (ascending (seq, data)) after `since_seq`, or None when it no longer holds them all."""
    if since_seq > seq or since_seq < 0:
        return None
    missed = [(s, data) for s, data in log if s > since_seq]
    if since_seq == seq:
        return []
    if not missed or missed[0][0] != since_seq + 1:
        return None
    return [data for _, data in missed]


def new_publication(
    event: str, message_id: str, payload: dict[str, Any], publish_id: str | None = None, lease: int = 0
) -> Publication:
    op, value = snapshot_op(event, payload)
    return Publication(
        entry=events.encode_entry(event, time.time(), payload), op=op, message_id=message_id, value=value,
        publish_id=publish_id or unique_id(), outdates=event in events.PAGE_EVENTS, lease=lease,
        fence=fence_kind(event),
    )  # fmt: skip


def accepted(event: str, message_id: str, published: tuple[int, str] | str) -> tuple[int, str]:
    """A publication's (seq, epoch); its refusal (`EventLog._publish`) raised."""
    if published == LOST:
        raise HistoryLost(f"{event} of {message_id} refused: the session's history was lost")
    if isinstance(published, str):
        raise Fenced(f"{event} of {message_id} refused: the message ended or was taken over")
    return published


class EventLog(abc.ABC):
    """Publish, subscribe, snapshot and replay every session's events."""

    async def publish(
        self,
        session_id: str,
        event: str,
        message_id: str,
        payload: dict[str, Any],
        publish_id: str | None = None,
        lease: int = 0,
    ) -> tuple[int, str]:
        """Store and publish one event; returns its (seq, epoch).

        Retrying with the same `publish_id` after an error publishes at most once. A generation's events carry
        its `lease`: one whose message already ended, or whose lease a takeover superseded, raises `Fenced`
        and publishes nothing (checked atomically with the publish). A session whose history was lost has
        nothing to check against: its events open a new epoch.
        """
        publication = new_publication(event, message_id, payload, publish_id, lease)
        return accepted(event, message_id, await self._publish(session_id, publication))

    async def publish_and_queue(
        self, jobs: JobQueue, session_id: str, event: str, message_id: str, payload: dict[str, Any],
        job: dict[str, str],
    ) -> None:  # fmt: skip
        """Publish an event that is not a generation's (no lease), then queue `job`: whatever the job's
        worker publishes comes after the event. Where the broker can, both are one step (`RedisEventLog`):
        one round trip, and the job is queued if and only if the event is published, once however often
        the call is retried."""
        await self.publish(session_id, event, message_id, payload)
        await jobs.enqueue(job)

    @abc.abstractmethod
    async def _publish(self, session_id: str, publication: Publication) -> tuple[int, str] | str:
        """(seq, epoch), or why the publication is refused (`refusal`)."""

    @abc.abstractmethod
    async def subscribe(self, topic: str, handler: TopicHandler) -> None:
        """Return once the session topic's events (and presence diffs) published from now on reach `handler`."""

    @abc.abstractmethod
    async def unsubscribe(self, topic: str, handler: TopicHandler) -> None: ...

    @abc.abstractmethod
    async def snapshot(self, session_id: str, start: bool = True) -> Snapshot:
        """The session's position and in-flight message; `start=False` starts no epoch (writes nothing)."""

    @abc.abstractmethod
    async def position(self, session_id: str, since: tuple[str, int] | None, start: bool = False) -> Position:
        """A joining tab's position: after `since` (epoch, seq) when the log still holds every event since,
        else the snapshot; with the cached attachment. Starts an epoch for a session that has none only when
        `start` is asked (by a join whose access was checked: a session id anyone made up stores nothing)."""

    @abc.abstractmethod
    async def store_attachment(self, session_id: str, data: bytes) -> None:
        """Cache bytes beside the session's history, read back with its position and expiring with it
        (a reader keeps inside them what it needs to tell whether they still hold for a position)."""
