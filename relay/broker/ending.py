"""How a generation ends, whoever ends it: its final message persisted once, then announced.

Its own worker (the normal end), a takeover of a worker gone silent (`workers.ending.finish_lost`) and the
gateway's cancel of a generation whose worker did not stop (`relay.chat.Chat.cancel`) all end it here. The
event log's fencing (`relay.broker.fencing`) decides which of their announcements tabs hear.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema import events
from schema.models import ERROR, INTERRUPTED
from schema.store import persist_final, persisted_final
from schema.usage import generation_usage

from .fencing import Fenced

Publish = Callable[[str, dict[str, Any]], Awaitable[object]]
Final = dict[str, Any] | None
Landing = Callable[[Callable[[], Awaitable[Final]]], Awaitable[Final]]


@dataclass(frozen=True)
class Ending:
    """What a generation ended with. `tool_calls` None (a takeover or cancel knows none) keeps what is stored."""

    status: str
    content: str
    error: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, Any] | None = None  # None: estimated from the content alone
    tool_calls: list[dict[str, Any]] | None = None


async def _at_once(write: Callable[[], Awaitable[Final]]) -> Final:
    return await write()


async def end_generation(
    db: async_sessionmaker[AsyncSession],
    message_id: str,
    ending: Ending,
    publish: Publish,
    *,
    replaces_takeover: bool = False,
    announce_persisted: bool = False,
    landing: Landing = _at_once,
) -> Final:
    """Persist the generation's final message and announce it; the `new_message` payload, or None if another
    finisher ended it (nothing is announced then).

    `replaces_takeover`: the generation's own worker, whose record wins over a takeover's (`persist_final`).
    `announce_persisted`: a takeover that finds the message persisted but maybe never announced (its worker
    vanished in between) announces the stored record. `landing` runs the write (a worker retries it patiently).
    """

    async def write() -> Final:
        return await persist_final(
            db, message_id, replaces_takeover=replaces_takeover, status=ending.status, content=ending.content,
            changes=ending.changes, error=ending.error, tool_calls=ending.tool_calls,
            usage=generation_usage({}, 0, ending.content) if ending.usage is None else ending.usage,
        )  # fmt: skip

    final = await landing(write)
    if final is None and announce_persisted:
        final = await persisted_final(db, message_id)
    if final is not None:
        await announce_end(publish, final)
    return final


async def announce_end(publish: Publish, final: dict[str, Any]) -> None:
    """The last events of a generation: `streaming_error` when it failed, then always `new_message`.

    A record that replaces a takeover's (from a worker that froze past its takeover but holds the whole answer)
    finds its message ended: its `streaming_error` is refused (nothing but a `new_message` may follow one), and
    its `new_message` alone replaces the takeover's.
    """
    message = final["message"]
    if message["status"] in (ERROR, INTERRUPTED):
        with contextlib.suppress(Fenced):
            await publish(events.STREAMING_ERROR, {"error": message["error"], "partial_content": message["content"]})
    await publish(events.NEW_MESSAGE, final)
