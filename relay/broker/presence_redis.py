"""Presence across gateways, in Redis: one script call per join or leave stores it and publishes its diff.

The calls of many tabs joining or leaving at once (a reconnect storm, a
gateway's sockets dropping) share pipelines through a `ScriptBatcher`.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from schema import keys
from schema.presence_codec import Presences, encode_diff, encode_entry, group

from .batcher import ScriptBatcher
from .presence import PresenceStore

SCRIPT = (Path(__file__).with_name("presence.lua")).read_text()
KEY_TTL_SECONDS = 24 * 3600  # presence of a session nobody touches any more disappears with it
# Sessions kept per round trip: a gateway with thousands of tabs keeps them in slices, so that neither its
# event loop (packing, reading the replies) nor Redis (running the scripts) is held for long at once; kept
# in one pipeline, 1,800 sessions held a gateway's joins for ~300 ms every interval.
KEEP_SESSIONS_PER_CALL = 100
T = TypeVar("T")


class RedisPresence(PresenceStore):
    """`call` runs a Redis command with the broker's retry and error translation."""

    def __init__(self, redis: Any, call: Callable[[Callable[[], Awaitable[T]]], Awaitable[T]], cluster: bool) -> None:
        self.redis = redis
        self.call = call
        self.cluster = cluster
        self.script = redis.register_script(SCRIPT)
        self.calls = ScriptBatcher(redis, SCRIPT, call, pipelined=not cluster, name="presence")

    async def open(self) -> None:
        """Connect the batcher's own connection now rather than on the first call."""
        await self.calls.open()

    async def close(self) -> None:
        await self.calls.close()

    async def _run(self, session_id: str, *args: Any) -> Any:
        return await self.calls.call([2, *keys.presence_keys(session_id), *args])

    async def _announce(self, session_id: str, joins: list[bytes], leaves: list[bytes]) -> None:
        diff = encode_diff(group(joins), group(leaves))
        topic = keys.topic(session_id)
        publish = self.redis.spublish if self.cluster else self.redis.publish
        await self.call(lambda: publish(topic, diff))

    def _publishing(self, session_id: str, joins: list[bytes], leaves: list[bytes]) -> list[Any]:
        """The script arguments that make it publish a diff on the session's channel."""
        command = "SPUBLISH" if self.cluster else "PUBLISH"
        return [command, keys.topic(session_id), encode_diff(group(joins), group(leaves))]

    async def track(self, session_id: str, ref: str, user_id: str, meta: dict[str, Any], ttl: float) -> Presences:
        entry = encode_entry(user_id, meta)
        publish = self._publishing(session_id, joins=[entry], leaves=[])
        return group(await self._run(session_id, "track", *publish, KEY_TTL_SECONDS, ref, entry, int(ttl * 1000)))

    async def untrack(self, session_id: str, ref: str, user_id: str, meta: dict[str, Any]) -> None:
        await self._run(session_id, "untrack", *self._leave(session_id, user_id, meta), ref)

    def _leave(self, session_id: str, user_id: str, meta: dict[str, Any]) -> list[Any]:
        return self._publishing(session_id, joins=[], leaves=[encode_entry(user_id, meta)])

    async def untrack_many(self, tabs: list[tuple[str, str, str, dict[str, Any]]]) -> list[BaseException | None]:
        """One batched script call per tab, with no task each (a gateway's sockets dropping at once)."""
        calls = [
            [2, *keys.presence_keys(session_id), "untrack", *self._leave(session_id, user_id, meta), ref]
            for session_id, ref, user_id, meta in tabs
        ]
        return [result if isinstance(result, BaseException) else None for result in await self.calls.call_many(calls)]

    async def keep(self, sessions: dict[str, dict[str, float]]) -> None:
        calls = [
            (session_id, ["keep", KEY_TTL_SECONDS, *(v for ref, ttl in ttls.items() for v in (ref, int(ttl * 1000)))])
            for session_id, ttls in sessions.items()
        ]
        for start in range(0, len(calls), KEEP_SESSIONS_PER_CALL):
            batch = calls[start : start + KEEP_SESSIONS_PER_CALL]
            if self.cluster:  # each session's keys may live on another node
                removed = [await self._run(session_id, *args) for session_id, args in batch]
            else:  # one round trip for the slice
                removed = await self.call(functools.partial(self._pipelined, batch))
            for (session_id, _), gone in zip(batch, removed, strict=True):
                if gone:
                    await self._announce(session_id, joins=[], leaves=gone)

    async def _pipelined(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for session_id, args in calls:
                await self.script(keys=keys.presence_keys(session_id), args=args, client=pipe)
            return await pipe.execute()

    async def list(self, session_id: str) -> Presences:
        return group(await self._run(session_id, "list"))
