"""One generation's events as the HTTP routes follow them: `POST …/messages` streamed back as SSE, the AI SDK's
stream and reconnect (relay/ai_sdk.py), a deletion waiting for a generation to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from schema import keys
from schema.events import NEW_MESSAGE, SESSION_DELETED, Envelope

from .auth import Claims
from .fanout import Delivery
from .gateway import Gateway
from .presence_tracker import PresenceDiff
from .sse_transport import SSE, sse


class GenerationWatch:
    """One generation's events, subscribed to before it starts (`POST …/messages`), or before the session's
    position is read (`after`: the AI SDK's reconnect, relay/ai_sdk.py)."""

    def __init__(self, gateway: Gateway, claims: Claims, session_id: str) -> None:
        self.gateway = gateway
        self.claims = claims
        self.session_id = session_id
        self.topic = keys.topic(session_id)
        self.events: asyncio.Queue[Envelope | None] = asyncio.Queue()
        self.position: tuple[str, int] | None = None  # (epoch, seq) once `after` was told

    def after(self, epoch: str, seq: int) -> None:
        """Skip the events up to this position (a snapshot covered them); a gap after it ends the watch early."""
        self.position = (epoch, seq)

    async def start(self) -> None:
        await self.gateway.fanout.join(self.topic, self)

    def stop(self) -> None:
        self.gateway.fanout.leave(self.topic, self)

    def receive(self, delivery: Delivery) -> None:
        self.events.put_nowait(delivery.envelope)

    def resync(self) -> None:
        self.events.put_nowait(None)

    def presence(self, diff: PresenceDiff) -> None:
        """A generation's stream carries no presence."""

    async def until_final(self, message_id: str) -> AsyncIterator[Envelope]:
        """This generation's events up to its `new_message`; ends early if the broker was lost (or, after a
        position, an event was missed)."""
        while (envelope := await self.events.get()) is not None:
            if self.position is not None:
                epoch, seq = self.position
                if envelope.epoch == epoch and envelope.seq <= seq:
                    continue
                if envelope.epoch != epoch or envelope.seq != seq + 1:
                    return
                self.position = (epoch, envelope.seq)
            if envelope.message_id == message_id:
                yield envelope
                if envelope.event == NEW_MESSAGE:
                    return
            elif envelope.event == SESSION_DELETED:
                return

    async def ended(self, message_id: str) -> None:
        """Once the generation's `new_message` was published (or the broker was lost meanwhile)."""
        async for _ in self.until_final(message_id):
            pass

    async def final(self, message_id: str) -> dict[str, Any]:
        async for envelope in self.until_final(message_id):
            if envelope.event == NEW_MESSAGE:
                return envelope.payload["message"]
        return await self.gateway.chat.wait_final(self.claims, self.session_id, message_id)

    async def stream(self, question: str, answer: str) -> AsyncIterator[bytes]:
        try:
            yield sse("accepted", {"message_id": question, "response_message_id": answer})
            async for envelope in self.until_final(answer):
                yield SSE.encode_event(self.topic, envelope)
                if envelope.event == NEW_MESSAGE:
                    return
            message = await self.gateway.chat.wait_final(self.claims, self.session_id, answer)
            yield sse(NEW_MESSAGE, {"message": message, "message_id": answer})
        finally:
            self.stop()
