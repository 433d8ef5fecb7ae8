"""One WebSocket: auth, heartbeat, a bounded writer, dispatch to channels.

The transport half of the Phoenix protocol; what happens on a topic is the
channel's business (`relay.channel`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from schema import keys

from .auth import Claims, InvalidToken, verify
from .channel import Channel
from .gateway import Gateway
from .metrics import OPEN_SOCKETS, SLOW_SOCKET_CLOSES
from .outbox import Outbox
from .serializer import SERIALIZERS, FrameError, Message, Serializer, reply

log = logging.getLogger(__name__)

SLOW_CONSUMER = 4008


class Socket:
    def __init__(self, websocket: WebSocket, serializer: Serializer, claims: Claims, gateway: Gateway) -> None:
        self.websocket = websocket
        self.serializer = serializer
        self.claims = claims
        self.gateway = gateway
        self.channels: dict[str, Channel] = {}
        self.outbox = Outbox(gateway.settings.socket_queue_bytes)
        self.closed = False
        self.writer: asyncio.Task[None] | None = None
        self.closer: asyncio.Task[None] | None = None

    # writing

    def send(self, frame: str) -> None:
        """Queue a frame; a socket that lets its queue pass the bound is cut off (4008)."""
        if not self.closed and not self.outbox.put(frame):
            SLOW_SOCKET_CLOSES.inc()
            self.close_soon(SLOW_CONSUMER, "slow consumer: outgoing queue over its bound")

    async def _write_forever(self) -> None:
        outbox, send_text = self.outbox, self.websocket.send_text
        while True:
            frame = await outbox.take()
            await send_text(frame)
            outbox.done(frame)

    def close_soon(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.outbox.clear()
        if self.writer is not None:
            self.writer.cancel()
        self.closer = asyncio.create_task(self._close(code, reason))

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.websocket.close(code, reason)

    # reading

    async def run(self) -> None:
        self.writer = asyncio.create_task(self._write_forever())
        try:
            await self._read_forever()
        except WebSocketDisconnect:
            pass
        finally:
            for channel in list(self.channels.values()):
                channel.leave()
            self.closed = True
            self.writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.writer

    async def _read_forever(self) -> None:
        settings = self.gateway.settings
        while not self.closed:
            try:
                async with asyncio.timeout(settings.socket_idle_seconds):
                    frame = await self.websocket.receive()
            except TimeoutError:
                self.close_soon(1000, "idle: nothing received within the heartbeat window")
                return
            if frame["type"] == "websocket.disconnect":
                return
            data: str | bytes = frame.get("text") or frame.get("bytes") or ""
            if len(data) > settings.max_frame_bytes:
                self._error(None, None, None, "too_large", f"frame exceeds {settings.max_frame_bytes} bytes")
                continue
            try:
                message = self.serializer.decode(data)
            except FrameError as exc:
                self._error(exc.topic, exc.ref, exc.join_ref, "bad_request", exc.reason)
                continue
            await self._dispatch(message)

    def _error(self, topic: str | None, ref: str | None, join_ref: str | None, reason: str, detail: str) -> None:
        payload = {"status": "error", "response": {"reason": reason, "message": detail}}
        self.send(self.serializer.encode(join_ref, ref, topic or "phoenix", "phx_reply", payload))

    def reply(self, message: Message, status: str, response: dict[str, Any] | None = None) -> None:
        self.send(reply(self.serializer, message, status, response))

    async def _dispatch(self, message: Message) -> None:
        topic, event = message.topic, message.event
        if topic == "phoenix":
            if event == "heartbeat":
                self.reply(message, "ok")
            else:
                self.reply(message, "error", {"reason": "unknown_event", "message": f"unknown event {event!r}"})
            return
        if event == "phx_join":
            await self._join(message)
            return
        channel = self.channels.get(topic)
        if channel is None or (channel.join_ref != message.join_ref and message.join_ref is not None):
            if event == "phx_leave":
                self.reply(message, "ok")
            else:
                self.reply(message, "error", {"reason": "unmatched topic", "message": f"{topic} is not joined"})
            return
        if event == "phx_leave":
            channel.leave()
            self.reply(message, "ok")
            self.send(self.serializer.encode(channel.join_ref, channel.join_ref, topic, "phx_close", {}))
            return
        status, response = await channel.handle_in(event, message.payload)
        self.reply(message, status, response)

    async def _join(self, message: Message) -> None:
        session_id = keys.session_id_of(message.topic)
        if session_id is None:
            self.reply(message, "error", {"reason": "unmatched topic", "message": "topics are ai_session:<id>"})
            return
        previous = self.channels.pop(message.topic, None)
        if previous is not None:  # a rejoin replaces the old channel, as in Phoenix
            previous.leave()
            self.send(self.serializer.encode(previous.join_ref, previous.join_ref, message.topic, "phx_close", {}))
        channel = Channel(self, message.topic, session_id, message.join_ref)
        self.channels[message.topic] = channel
        await channel.join(message)

    def forget(self, channel: Channel) -> None:
        if self.channels.get(channel.topic) is channel:
            del self.channels[channel.topic]

    def rejoin_needed(self, channel: Channel) -> None:
        self.send(self.serializer.encode(channel.join_ref, channel.join_ref, channel.topic, "phx_error", {}))


async def serve_websocket(websocket: WebSocket, gateway: Gateway) -> None:
    """The `/socket/websocket` endpoint: refuse bad tokens at the upgrade (HTTP 403)."""
    serializer = SERIALIZERS.get(websocket.query_params.get("vsn", "1.0.0"))
    try:
        claims = verify(gateway.settings.secret or "", websocket.query_params.get("token"))
    except InvalidToken as exc:
        log.info("refused websocket: %s", exc)
        await websocket.close(code=1008)
        return
    if serializer is None:
        await websocket.close(code=1008)
        return
    await websocket.accept()
    OPEN_SOCKETS.inc()
    try:
        await Socket(websocket, serializer, claims, gateway).run()
    finally:
        OPEN_SOCKETS.dec()
