"""Deleting a session: a running generation ends `cancelled` first, then every tab hears `session_deleted` (and
the tabs of its hosted documents `phx_close`).

The generation's own worker is asked to stop and given `STOP_GRACE_SECONDS` to
persist and announce its end, so that `new_message` stays the generation's last
event; a worker that is gone or stuck is not waited for: the gateway ends the
message itself (the final write is guarded, so only one of them wins).
"""

from __future__ import annotations

import asyncio

from .auth import Claims
from .gateway import Gateway
from .generation_watch import GenerationWatch

STOP_GRACE_SECONDS = 5.0


async def delete_session(gateway: Gateway, claims: Claims, session_id: str) -> None:
    running = await gateway.chat.deletable(claims, session_id)
    if running is not None:
        watch = GenerationWatch(gateway, claims, session_id)
        await watch.start()
        try:
            await gateway.chat.stop(claims, session_id)
            try:
                async with asyncio.timeout(STOP_GRACE_SECONDS):
                    await watch.ended(running)
            except TimeoutError:
                await gateway.chat.cancel(session_id, running)
        finally:
            watch.stop()
    await gateway.chat.delete_session(claims, session_id)
    await gateway.documents.session_deleted(session_id)
