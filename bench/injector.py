"""The injector process: publishes chat events at a fixed rate through the path a worker uses.

Every session runs scripted generations: `message_processing`, then
`GENERATION_CHUNKS` × `streaming_chunk` whose content starts with the send time,
then `new_message`, and again. For streamrelay and the raw relay that is
`RedisBroker.publish` (the Lua script: seq, log, snapshot, PUBLISH); for
python-socketio it is a write-only `AsyncRedisManager.emit` to the session's room,
with `seq` counted here.

Commands: ("run", {"rate", "seconds"}) → report; ("close", None) → None.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection
from typing import Any

import uvloop

from .measure import percentiles_ms

GENERATION_CHUNKS = 200
FILLER = "lorem ipsum dolor"  # a chunk is ~35 bytes of text, like an LLM token or three
OVERRUN_SECONDS = 2.0  # how late a publisher that cannot keep up may still publish

Publish = Callable[[str, str, str, dict[str, Any]], Awaitable[Any]]


class Script:
    """One session's endless stream of generations."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.position = 0
        self.message_id = ""

    def next(self) -> tuple[str, str, dict[str, Any]]:
        position = self.position
        self.position = (position + 1) % (GENERATION_CHUNKS + 2)
        if position == 0:
            self.message_id = str(uuid.uuid4())
            return "message_processing", self.message_id, {"session_id": self.session_id}
        if position <= GENERATION_CHUNKS:
            return "streaming_chunk", self.message_id, {"content": f"{time.time():.6f} {FILLER}"}
        message = {"id": self.message_id, "role": "assistant", "content": "", "status": "success", "changes": []}
        return "new_message", self.message_id, {"message": message}


async def broker_publisher(redis_url: str) -> tuple[Publish, Callable[[], Awaitable[None]]]:
    from relay.broker.redis import RedisBroker

    broker = RedisBroker(redis_url)
    return broker.event_log.publish, broker.close


async def socketio_publisher(redis_url: str) -> tuple[Publish, Callable[[], Awaitable[None]]]:
    import socketio

    manager = socketio.AsyncRedisManager(redis_url, write_only=True)
    seqs: dict[str, int] = {}

    async def publish(session_id: str, event: str, message_id: str, payload: dict[str, Any]) -> None:
        seq = seqs[session_id] = seqs.get(session_id, 0) + 1
        await manager.emit(event, {**payload, "seq": seq, "message_id": message_id}, room=session_id, namespace="/")

    async def close() -> None:
        if manager.redis is not None:
            await manager.redis.aclose()

    return publish, close


PUBLISHERS = {"broker": broker_publisher, "socketio": socketio_publisher}


class Injector:
    def __init__(self, publish: Publish, sessions: list[str]) -> None:
        self.publish = publish
        self.scripts = [Script(session_id) for session_id in sessions]

    async def run(self, rate: float, seconds: float) -> dict[str, Any]:
        """Publish `rate` events/s spread evenly over the sessions for `seconds`; one sequential publisher each."""
        loop = asyncio.get_running_loop()
        per_session = rate / len(self.scripts)
        start = loop.time() + 0.05
        published: dict[str, int] = {}
        durations: list[float] = []

        async def session_loop(index: int, script: Script) -> None:
            interval = 1.0 / per_session
            due = start + index / len(self.scripts) * interval
            count = 0
            while due < start + seconds and loop.time() < start + seconds + OVERRUN_SECONDS:
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                began = loop.time()
                await self.publish(script.session_id, *script.next())
                durations.append(loop.time() - began)
                count += 1
                due += interval
            published[script.session_id] = count

        await asyncio.gather(*(session_loop(i, script) for i, script in enumerate(self.scripts)))
        elapsed = loop.time() - start
        total = sum(published.values())
        return {
            "published": published,
            "total": total,
            "target_rate": rate,
            "achieved_rate": round(total / max(elapsed, seconds), 1),
            "seconds": round(elapsed, 3),
            "publish_call_ms": percentiles_ms(durations),
        }


async def serve(conn: Connection, mode: str, redis_url: str, sessions: list[str]) -> None:
    publish, close = await PUBLISHERS[mode](redis_url)
    injector = Injector(publish, sessions)
    try:
        while True:
            command, argument = await asyncio.to_thread(conn.recv)
            if command == "run":
                conn.send(await injector.run(argument["rate"], argument["seconds"]))
            elif command == "close":
                conn.send(None)
                return
    finally:
        with contextlib.suppress(Exception):
            await close()


def main(conn: Connection, mode: str, redis_url: str, sessions: list[str]) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(conn, mode, redis_url, sessions))
