"""The document updates role on Redis: a stream per document, appended and published by one script."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from schema import keys

from .documents import DocumentBus, DocumentMessage, Logged
from .redis_connection import RedisConnection
from .topic_bus import TopicBus

# KEYS[1] the document's update stream; ARGV[1] its channel, ARGV[2] the update, ARGV[3] the message to
# publish, ARGV[4] ttl seconds, ARGV[5] 's' for SPUBLISH (cluster: the channel shares the key's slot).
APPEND_SCRIPT = """
redis.call('XADD', KEYS[1], '*', 'u', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if ARGV[5] == 's' then
  redis.call('SPUBLISH', ARGV[1], ARGV[3])
else
  redis.call('PUBLISH', ARGV[1], ARGV[3])
end
return 1
"""


class RedisDocuments(DocumentBus):
    def __init__(self, connection: RedisConnection, topics: TopicBus) -> None:
        self.connection = connection
        self.topics = topics
        self.redis = connection.redis

    @cached_property
    def append_script(self) -> Any:
        """Registered once: redis-py's Script keeps its SHA and loads it when Redis does not know it."""
        return self.redis.register_script(APPEND_SCRIPT)

    async def append_update(self, topic: str, message: DocumentMessage) -> None:
        script = self.append_script
        sharded = "s" if self.connection.cluster else ""
        args = [topic, message.payload, message.encode(), self.connection.ttl_seconds, sharded]
        await self.connection.call(lambda: script(keys=[keys.doc_updates_key(topic)], args=args))

    async def announce(self, topic: str, message: DocumentMessage) -> None:
        await self.topics.announce(topic, message.encode())

    async def logged_updates(self, topic: str) -> Logged:
        entries = await self.connection.call(lambda: self.redis.xrange(keys.doc_updates_key(topic)))
        updates = [fields[b"u"] for _, fields in entries]
        return Logged(updates, entries[-1][0].decode() if entries else None)

    async def trim(self, topic: str, through_id: str) -> None:
        milliseconds, _, sequence = through_id.partition("-")
        after = f"{milliseconds}-{int(sequence) + 1}"
        await self.connection.call(
            lambda: self.redis.xtrim(keys.doc_updates_key(topic), minid=after, approximate=False)
        )

    async def log_bytes(self, topic: str) -> int:
        return sum(map(len, (await self.logged_updates(topic)).updates))
