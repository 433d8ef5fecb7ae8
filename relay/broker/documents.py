"""The document updates role: each hosted document's update log and its channel.

A document's updates are appended to its log (until a fold moves them into
SQL, `relay.broker.document_edit`) and published on its topic `doc:<session_id>:<name>`
in one atomic step; awareness is published and never logged. What travels on
the topic is a `DocumentMessage`: its kind, the room it came from (so that a
gateway skips its own), and the y-protocols payload.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

UPDATE, AWARENESS, DELETED = b"u", b"a", b"d"  # DELETED: the session is gone, its documents with it
ORIGIN_BYTES = 8


@dataclass(frozen=True, slots=True)
class DocumentMessage:
    kind: bytes  # UPDATE (a Yjs update), AWARENESS (a y-protocols awareness message, or a query), DELETED
    origin: bytes  # ORIGIN_BYTES naming the sender: a gateway's room, or one edit
    payload: bytes

    def encode(self) -> bytes:
        return self.kind + self.origin + self.payload

    @classmethod
    def decode(cls, data: bytes) -> DocumentMessage | None:
        """None for what is not a document message (never from our own processes)."""
        kind = data[:1]
        if kind not in (UPDATE, AWARENESS, DELETED) or len(data) < 1 + ORIGIN_BYTES:
            return None
        return cls(kind, data[1 : 1 + ORIGIN_BYTES], data[1 + ORIGIN_BYTES :])


@dataclass(frozen=True, slots=True)
class Logged:
    """A document's log as read: its updates and the id of the last, for `DocumentBus.trim`."""

    updates: list[bytes]
    last_id: str | None


class DocumentBus(abc.ABC):
    """Subscribing to a document topic is the topic bus's `subscribe`; `announce` publishes on it."""

    @abc.abstractmethod
    async def append_update(self, topic: str, message: DocumentMessage) -> None:
        """Log the update and publish it, atomically."""

    @abc.abstractmethod
    async def announce(self, topic: str, message: DocumentMessage) -> None:
        """Publish without logging (awareness, a deletion)."""

    @abc.abstractmethod
    async def logged_updates(self, topic: str) -> Logged: ...

    @abc.abstractmethod
    async def trim(self, topic: str, through_id: str) -> None:
        """Drop the log's updates up to and including `through_id` (they are folded into SQL)."""

    @abc.abstractmethod
    async def log_bytes(self, topic: str) -> int:
        """The bytes of the updates the document's log holds (for measurements and tests)."""
