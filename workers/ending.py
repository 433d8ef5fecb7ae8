"""How a generation ends: persisted once, then announced; also for generations whose worker vanished.

`finish_lost` finishes a generation from what the broker's snapshot holds: its
job was taken over from a silent worker, or it was left `processing` past any
generation's lifetime (its job lost with Redis's data).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.broker.fencing import Fenced
from relay.broker.log import EventLog
from schema import events
from schema.models import ERROR, INTERRUPTED
from schema.store import WORKER_LOST, persist_final, persisted_final
from schema.usage import generation_usage

Publish = Callable[[str, dict[str, Any]], Awaitable[object]]


async def announce_end(publish: Publish, final: dict[str, Any]) -> None:
    """The last events of a generation: `streaming_error` when it failed, then always `new_message`.

    A record that replaces a takeover's (guarantee 4) finds its message ended: its `streaming_error` is refused
    (nothing but a `new_message` may follow one), and its `new_message` alone replaces the takeover's.
    """
    message = final["message"]
    if message["status"] in (ERROR, INTERRUPTED):
        with contextlib.suppress(Fenced):
            await publish(events.STREAMING_ERROR, {"error": message["error"], "partial_content": message["content"]})
    await publish(events.NEW_MESSAGE, final)


async def finish_lost(session_id: str, message_id: str, log: EventLog, db: async_sessionmaker[AsyncSession]) -> bool:
    """Finish a generation whose worker vanished, from what the snapshot holds; True if this announced its end.

    A worker may also vanish between persisting the message and announcing it: the
    snapshot then still shows the message in flight, and its end is announced here.
    """
    snapshot = await log.snapshot(session_id)
    streamed, lease = snapshot.streamed(message_id), snapshot.takeover_lease(message_id)
    partial, changes = streamed or ("", [])
    final = await persist_final(
        db,
        message_id,
        status=INTERRUPTED,
        content=partial,
        changes=changes,
        usage=generation_usage({}, "", partial),
        error=WORKER_LOST,
    )
    if final is None and streamed is not None:
        final = await persisted_final(db, message_id)
    if final is None:
        return False
    await announce_end(lambda event, payload: log.publish(session_id, event, message_id, payload, lease=lease), final)
    return True
