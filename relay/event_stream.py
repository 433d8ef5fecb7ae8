"""Server-Sent Events for simple clients: a session's events, and one generation's.

`GET /api/sessions/{id}/events` is a channel on an SSE stream: the same join
seam, resume and slow-client bound as a WebSocket tab. Each event's `id:` is
`<epoch>:<seq>`; EventSource sends it back as `Last-Event-ID` when it
reconnects, and the stream resumes after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from schema import keys
from schema.events import NEW_MESSAGE, SESSION_DELETED, Envelope

from .auth import Claims
from .channel import Channel
from .fanout import Delivery
from .gateway import Gateway
from .metrics import SLOW_SOCKET_CLOSES
from .outbox import Outbox
from .presence_tracker import PresenceDiff
from .serializer import Message
from .transport import JoinedTopic

KEEP_ALIVE_SECONDS = 15.0
CLOSE = b""  # queued to end the stream


def sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    head = f"id: {event_id}\nevent: {event}\ndata: " if event_id is not None else f"event: {event}\ndata: "
    return head.encode() + orjson.dumps(data) + b"\n\n"


class SSEFormat:
    """Events as SSE messages; replies and errors are shaped by `EventStream`."""

    def encode(self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> bytes:
        return sse(event, payload)

    def encode_event(self, topic: str, envelope: Envelope) -> bytes:
        return sse(envelope.event, envelope.push_payload(), f"{envelope.epoch}:{envelope.seq}")


SSE = SSEFormat()


def parse_last_event_id(value: str | None) -> dict[str, Any]:
    """`Last-Event-ID: <epoch>:<seq>` → join params with `since`; anything else → none."""
    if value:
        epoch, _, seq = value.rpartition(":")
        if epoch and seq.isdigit():
            return {"since": {"epoch": epoch, "seq": int(seq)}}
    return {}


class EventStream:
    """One SSE response carrying one channel: the transport a `Channel` lives on."""

    serializer = SSE

    def __init__(self, gateway: Gateway, claims: Claims) -> None:
        self.gateway = gateway
        self.claims = claims
        self.outbox = Outbox(gateway.settings.socket_queue_bytes)
        self.closed = False

    def send(self, frame: bytes) -> None:
        if self.closed:
            return
        if not self.outbox.put(frame):
            SLOW_SOCKET_CLOSES.inc()
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.outbox.clear()
            self.outbox.put(CLOSE)

    def reply(self, message: Message, status: str, response: dict[str, Any] | None = None) -> None:
        self.send(sse("joined" if status == "ok" else "error", response or {}))
        if status != "ok":
            self.close()

    def forget(self, channel: JoinedTopic) -> None:
        pass

    def rejoin_needed(self, channel: JoinedTopic) -> None:
        self.close()  # EventSource reconnects with Last-Event-ID and resumes

    def closed_by_server(self, channel: JoinedTopic) -> None:
        if not self.closed:  # end the stream after what is queued (the `session_deleted` event)
            self.closed = True
            self.outbox.put(CLOSE)

    def last_heard(self) -> float | None:
        return None  # an SSE stream is not a tab in presence

    async def frames(self, session_id: str, params: dict[str, Any]) -> AsyncIterator[bytes]:
        topic = keys.topic(session_id)
        channel = Channel(self, topic, session_id, None)
        try:
            await channel.join(Message(None, None, topic, "phx_join", params))
            while True:
                try:
                    frame = await asyncio.wait_for(self.outbox.take(), KEEP_ALIVE_SECONDS)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if frame == CLOSE:
                    return
                yield frame
                self.outbox.done(frame)
        finally:
            channel.leave()


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
