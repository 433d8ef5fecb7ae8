"""The event log on Redis: Lua for the atomic publish (`publish.lua`) and the position (`position.lua`),
both through script batchers; a session's channel on the topic bus.

On Redis Cluster a session's keys and its channel share one slot (the `{ai_session:<id>}` hash tag)
and the publish script uses SPUBLISH.
"""

from __future__ import annotations

from pathlib import Path

from schema import events, keys

from .batcher import ScriptBatcher
from .log import EventLog, Position, Publication, Snapshot, new_epoch
from .position import SCRIPT as POSITION_SCRIPT
from .position import decode_reply, script_args
from .redis_connection import RedisConnection
from .topic_bus import TopicBus, TopicHandler

PUBLISH_SCRIPT = (Path(__file__).with_name("publish.lua")).read_text()


class RedisEventLog(EventLog):
    def __init__(self, connection: RedisConnection, topics: TopicBus, log_maxlen: int, log_max_bytes: int) -> None:
        self.connection = connection
        self.topics = topics
        self.log_maxlen = log_maxlen
        self.log_max_bytes = log_max_bytes
        pipelined = not connection.cluster
        redis, call, guarded = connection.redis, connection.call, connection.guarded
        self.publishes = ScriptBatcher(redis, PUBLISH_SCRIPT, call, pipelined, own_guard=guarded)
        self.positions = ScriptBatcher(redis, POSITION_SCRIPT, call, pipelined, name="position", own_guard=guarded)

    async def open(self) -> None:
        """Connect the batchers' own connections now rather than on the first call."""
        await self.publishes.open()
        await self.positions.open()

    async def close(self) -> None:
        await self.publishes.close()
        await self.positions.close()

    async def _publish(self, session_id: str, publication: Publication) -> tuple[int, str] | str:
        args = [
            keys.topic(session_id),
            publication.entry,
            new_epoch(),
            self.log_maxlen,
            self.connection.session_ttl_seconds,
            publication.op,
            publication.message_id,
            publication.value,
            "s" if self.connection.cluster else "p",
            publication.publish_id,
            "1" if publication.outdates else "0",
            publication.lease,
            publication.fence,
            events.entry_event(publication.entry),
            self.log_max_bytes,
        ]
        session_keys = [*keys.session_keys(session_id), *keys.expiring_keys(session_id)]
        seq, epoch = await self.publishes.call([len(session_keys), *session_keys, *args])
        return (int(seq), epoch.decode()) if seq else epoch.decode()  # else the refusal

    async def subscribe(self, topic: str, handler: TopicHandler) -> None:
        await self.topics.subscribe(topic, handler)

    async def unsubscribe(self, topic: str, handler: TopicHandler) -> None:
        await self.topics.unsubscribe(topic, handler)

    async def snapshot(self, session_id: str, start: bool = True) -> Snapshot:
        return (await self._position(session_id, None, start, attachment=False)).snapshot

    async def position(self, session_id: str, since: tuple[str, int] | None, start: bool = False) -> Position:
        return await self._position(session_id, since, start, attachment=True)

    async def _position(
        self, session_id: str, since: tuple[str, int] | None, start: bool, attachment: bool
    ) -> Position:
        epoch, ttl = new_epoch() if start else "", self.connection.session_ttl_seconds
        args = script_args(session_id, since, epoch, ttl, attachment)
        return decode_reply(await self.positions.call(args))

    async def store_attachment(self, session_id: str, data: bytes) -> None:
        redis, ttl = self.connection.redis, self.connection.session_ttl_seconds
        await self.connection.call(lambda: redis.set(keys.attachment_key(session_id), data, ex=ttl))
