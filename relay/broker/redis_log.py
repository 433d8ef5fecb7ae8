"""The event log on Redis: Lua for the atomic publish (`publish.lua`) and the position (`position.lua`),
both through script batchers; a session's channel on the topic bus.

On Redis Cluster a session's keys and its channel share one slot (the `{ai_session:<id>}` hash tag)
and the publish script uses SPUBLISH. On a single Redis a posted question's event and its generation's
job are one script call (`PUBLISH_AND_QUEUE_SCRIPT`): on a cluster the job stream is in another slot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from schema import events, keys

from .batcher import ScriptBatcher
from .jobs import JobQueue
from .log import EventLog, Position, Publication, Snapshot, accepted, new_epoch, new_publication
from .position import SCRIPT as POSITION_SCRIPT
from .position import decode_reply, script_args
from .redis_connection import RedisConnection
from .topic_bus import TopicBus, TopicHandler

PUBLISH_SCRIPT = (Path(__file__).with_name("publish.lua")).read_text()
# publish.lua, then the job queued after the event: the last key is the job stream, the last argument the job
# (both taken off before publish.lua reads KEYS and ARGV). A retry of a call that went through finds the event
# published ('again') and queues nothing more.
PUBLISH_AND_QUEUE_SCRIPT = f"""local jobs, job = table.remove(KEYS), table.remove(ARGV)
local function publish()
{PUBLISH_SCRIPT}
end
local published = publish()
if published[1] ~= 0 and not published[3] then
  redis.call('XADD', jobs, '*', 'job', job)
end
return published
"""


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
        self.queued_publishes = ScriptBatcher(
            redis, PUBLISH_AND_QUEUE_SCRIPT, call, pipelined, name="publish and queue", own_guard=guarded
        )
        self.batchers = [self.publishes, self.positions] + ([] if connection.cluster else [self.queued_publishes])

    async def open(self) -> None:
        """Connect the batchers' own connections now rather than on the first call."""
        for batcher in self.batchers:
            await batcher.open()

    async def close(self) -> None:
        for batcher in self.batchers:
            await batcher.close()

    async def _publish(self, session_id: str, publication: Publication) -> tuple[int, str] | str:
        return _decoded(await self.publishes.call(self._script_args(session_id, publication)))

    async def publish_and_queue(
        self, jobs: JobQueue, session_id: str, event: str, message_id: str, payload: dict[str, Any],
        job: dict[str, str],
    ) -> None:  # fmt: skip
        """One round trip for the event and its job on a single Redis; on a cluster, one after the other."""
        if self.connection.cluster:
            return await super().publish_and_queue(jobs, session_id, event, message_id, payload, job)
        numkeys, *args = self._script_args(session_id, new_publication(event, message_id, payload))
        session_keys, script_args = args[:numkeys], args[numkeys:]
        queued = [numkeys + 1, *session_keys, keys.JOBS_STREAM, *script_args, orjson.dumps(job)]
        accepted(event, message_id, _decoded(await self.queued_publishes.call(queued)))

    def _script_args(self, session_id: str, publication: Publication) -> list[Any]:
        """publish.lua's numkeys, keys and arguments."""
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
        return [len(session_keys), *session_keys, *args]

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


def _decoded(reply: list[Any]) -> tuple[int, str] | str:
    """The publish script's (seq, epoch), or its refusal."""
    seq, epoch = reply[0], reply[1]
    return (int(seq), epoch.decode()) if seq else epoch.decode()
