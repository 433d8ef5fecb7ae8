"""The document updates role in memory, for one process."""

from __future__ import annotations

import itertools

from .documents import DocumentBus, DocumentMessage, Logged
from .topic_bus import TopicBus


class MemoryDocuments(DocumentBus):
    def __init__(self, topics: TopicBus) -> None:
        self.topics = topics
        self.doc_logs: dict[str, list[tuple[int, bytes]]] = {}  # topic -> (id, update)
        self.doc_ids = itertools.count(1)

    async def append_update(self, topic: str, message: DocumentMessage) -> None:
        self.doc_logs.setdefault(topic, []).append((next(self.doc_ids), message.payload))
        await self.announce(topic, message)

    async def announce(self, topic: str, message: DocumentMessage) -> None:
        await self.topics.announce(topic, message.encode())

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
