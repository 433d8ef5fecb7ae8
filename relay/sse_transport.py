"""Server-Sent Events as a transport: a session's events on an SSE stream, for simple clients.

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
from schema.events import Envelope

from .auth import Claims
from .gateway import Gateway
from .metrics import SLOW_SOCKET_CLOSES
from .outbox import Outbox
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
        channel = self.gateway.session_channel(self, topic, session_id, None)
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
