"""Finishing a generation whose worker vanished, from what the broker's snapshot holds.

Its job was taken over from a silent worker, or it was left `processing` past any generation's lifetime (its
job lost with Redis's data). It ends as every generation does (`relay.broker.ending`), with a newer lease.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from relay.broker.ending import Ending, end_generation
from relay.broker.log import EventLog
from schema.models import INTERRUPTED
from schema.store import WORKER_LOST


async def finish_lost(
    session_id: str, message_id: str, event_log: EventLog, db: async_sessionmaker[AsyncSession]
) -> bool:
    """Finish a generation whose worker vanished, from what the snapshot holds; True if this announced its end.

    A worker may also vanish between persisting the message and announcing it: the
    snapshot then still shows the message in flight, and its end is announced here.
    """
    snapshot = await event_log.snapshot(session_id)
    streamed, lease = snapshot.streamed(message_id), snapshot.takeover_lease(message_id)
    partial, changes = streamed or ("", [])
    final = await end_generation(
        db,
        message_id,
        Ending(INTERRUPTED, partial, WORKER_LOST, changes),
        lambda event, payload: event_log.publish(session_id, event, message_id, payload, lease=lease),
        announce_persisted=streamed is not None,
    )
    return final is not None
