"""The document updates role in memory, for one process."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from .documents import DocumentBus, DocumentMessage, Logged


class MemoryDocuments(DocumentBus):
    """Mixed into `MemoryBroker`, whose `topics` are the subscribed ones and `_deliver` their delivery."""

    topics: set[str]
    _deliver: Callable[[str, bytes], None]
    doc_logs: dict[str, list[tuple[int, bytes]]]  # topic -> (id, update), set up by the broker
    doc_ids: itertools.count[int]

    async def append_update(self, topic: str, message: DocumentMessage) -> None:
        self.doc_logs.setdefault(topic, []).append((next(self.doc_ids), message.payload))
        await self.announce(topic, message)

    async def announce(self, topic: str, message: DocumentMessage) -> None:
        if topic in self.topics:
            self._deliver(topic, message.encode())

    async def logged_updates(self, topic: str) -> Logged:
        log = self.doc_logs.get(topic, [])
        return Logged([update for _, update in log], str(log[-1][0]) if log else None)

    async def trim(self, topic: str, through_id: str) -> None:
        logs = self.doc_logs
        kept = [(i, update) for i, update in logs.get(topic, []) if i > int(through_id)]
        if kept:
            logs[topic] = kept
        else:
            logs.pop(topic, None)

    async def log_bytes(self, topic: str) -> int:
        return sum(len(update) for _, update in self.doc_logs.get(topic, []))
