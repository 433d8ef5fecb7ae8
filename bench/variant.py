"""`python -m bench.variant LEVER COMMAND…`: `streamrelay COMMAND…` with one performance lever undone.

Every lever the gateway relies on was kept because it measured better than its
absence; this runs streamrelay exactly as the console script does, with one of
them switched off, so that the bench can show the two side by side in one run:

    python -m bench.run --targets streamrelay,streamrelay~asyncio-loop,raw --workloads fixed

The switch is applied in this process before streamrelay starts; nothing in
`relay/` knows about it.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any


def _uvicorn_option(name: str, value: str) -> None:
    from relay import server

    options = server.uvicorn_options
    server.uvicorn_options = lambda settings: {**options(settings), name: value}  # type: ignore[assignment]


def asyncio_loop() -> None:
    _uvicorn_option("loop", "asyncio")
    from relay import cli

    cli.run_fast = asyncio.run  # type: ignore[assignment]


def h11() -> None:
    _uvicorn_option("http", "h11")


def stdlib_json() -> None:
    from relay import serializer

    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()

    serializer.orjson = SimpleNamespace(  # type: ignore[attr-defined]
        dumps=dumps, loads=json.loads, JSONDecodeError=json.JSONDecodeError
    )


def python_redis_parser() -> None:
    """Every redis-py connection reads replies with its own parser. The gateway's pub/sub connection and the
    batchers' are read by hiredis all the same (`PushReader`, `ReplyPipe`): this lever no longer touches the
    fan-out's reads, only commands on pooled connections."""
    from redis.asyncio import connection

    init = connection.AbstractConnection.__init__

    def with_python_parser(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **{**kwargs, "parser_class": connection._AsyncRESP3Parser})

    connection.AbstractConnection.__init__ = with_python_parser  # type: ignore[method-assign]


def encode_per_socket() -> None:
    from relay.fanout import Delivery

    def frame(self: Delivery, serializer: Any) -> bytes:
        return serializer.encode_event(self.topic, self.envelope)  # type: ignore[no-any-return]

    Delivery.frame = frame  # type: ignore[method-assign]


def no_gc_freeze() -> None:
    gc.freeze = lambda: None


def anyio_reads() -> None:
    """Workers read the operator's upstream through httpcore's own anyio streams, not `schema.network`'s."""
    import httpx

    from workers import http

    http.operator_client = lambda limits: httpx.AsyncClient(limits=limits)  # type: ignore[assignment]


def timer_per_wait() -> None:
    """Upstream reads and publish batches schedule and cancel a deadline timer each (`asyncio.timeout` per wait)."""
    from relay.broker import batcher, silence
    from workers.providers import upstream

    class TimerPerWait(silence.Silence):
        def waiting_until(self, deadline: float | None) -> None:
            self.deadline = deadline
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
            if deadline is not None:
                self.timer = self.loop.call_at(deadline, self._due)

    upstream.Silence = batcher.Silence = TimerPerWait  # type: ignore[misc]


def orm_final_write() -> None:
    """Workers end a generation as before one `UPDATE … RETURNING`: the record locked and read, updated, read
    back through the ORM with its applied changes, and its session read for the month's totals."""
    from sqlalchemy import and_, or_, select, update

    from schema import store
    from schema.models import INTERRUPTED, PROCESSING, ChatMessage, ChatSession, utcnow
    from schema.usage import count_generation
    from workers import generation

    async def persist_final(db: Any, message_id: str, *, status: str, content: str, changes: Any, usage: Any,
                            error: Any, tool_calls: Any = None, replaces_takeover: bool = False) -> Any:
        values = {"status": status, "content": content, "changes": changes, "usage": usage, "error": error}
        if tool_calls is not None:
            values["tool_calls"] = tool_calls
        finishable = ChatMessage.status == PROCESSING
        if replaces_takeover:
            lost = and_(ChatMessage.status == INTERRUPTED, ChatMessage.error == store.WORKER_LOST)
            finishable = or_(finishable, lost)
        async with db.begin() as session:
            prior = await session.execute(
                select(ChatMessage.status, ChatMessage.usage).where(ChatMessage.id == message_id).with_for_update()
            )
            row = prior.first()
            replaced = row.usage if row is not None and row.status == INTERRUPTED else None
            write = update(ChatMessage).where(ChatMessage.id == message_id, finishable)
            won = await session.execute(write.values(**values, completed_at=utcnow()))
            if won.rowcount != 1:
                return None
            message = await session.get(ChatMessage, message_id, populate_existing=True)
            final = {"message": message.to_dict(await store.applied_changes(session, message.session_id))}
            chat = await session.get(ChatSession, message.session_id)
            await count_generation(session, chat.tenant_id, message.user_id or chat.user_id, usage, replaced)
            return final

    generation.persist_final = persist_final  # type: ignore[assignment]


def no_join_page() -> None:
    """Joins read the session and its messages from SQL every time (no cached join page)."""
    from relay.join_page import JoinPages

    async def contents(self: JoinPages, claims: Any, session_id: str, position: Any) -> Any:
        return await self.chat.session_and_history(claims, session_id)

    JoinPages.contents = contents  # type: ignore[method-assign]


def default_gc() -> None:
    gc.set_threshold = lambda *thresholds: None


LEVERS: dict[str, tuple[Callable[[], None], str]] = {
    "asyncio-loop": (asyncio_loop, "asyncio's default event loop instead of uvloop"),
    "h11": (h11, "uvicorn's h11 HTTP parser instead of httptools"),
    "stdlib-json": (stdlib_json, "frames with the standard library's json instead of orjson"),
    "python-redis-parser": (python_redis_parser, "redis-py's Python RESP parser, not hiredis (pooled connections)"),
    "encode-per-socket": (encode_per_socket, "each event's frame encoded for every socket, not once per process"),
    "no-gc-freeze": (no_gc_freeze, "no gc.freeze() after start-up"),
    "default-gc": (default_gc, "the gateway keeps Python's collection thresholds (700, 10, 10)"),
    "no-join-page": (no_join_page, "joins read the session and its messages from SQL (no cached join page)"),
    "anyio-reads": (anyio_reads, "workers read the upstream with httpcore's anyio streams (reading paused per read)"),
    "orm-final-write": (orm_final_write, "the final write in 7 statements through the ORM, not 3 (UPDATE … RETURNING)"),
    "timer-per-wait": (timer_per_wait, "a deadline timer scheduled and cancelled per upstream read and publish batch"),
}


def main() -> None:
    lever, *command = sys.argv[1:]
    if lever not in LEVERS or not command:
        raise SystemExit(f"usage: python -m bench.variant {{{','.join(LEVERS)}}} COMMAND…")
    LEVERS[lever][0]()
    from relay.cli import main as streamrelay

    streamrelay(command)


if __name__ == "__main__":
    main()
