"""One Phoenix socket: auth, heartbeats, dispatch of client messages to channels.

The protocol half of a WebSocket; the bytes on the wire are the connection's
business (`relay.websocket`), what happens on a topic is the channel's
(`relay.channel`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from schema import keys
from schema.documents import parse_topic

from .auth import Claims, InvalidToken
from .channel import Channel
from .document_channel import DocumentChannel
from .errors import ChatError
from .gateway import Gateway
from .limits import bucket_of
from .serializer import FrameError, Message, Serializer, reply
from .tenant_topic import TenantChannel, tenant_of_topic
from .transport import JoinedTopic
from .verified_tokens import verified_tokens

logger = logging.getLogger(__name__)

INBOX_LIMIT = 64  # client messages waiting behind a slow one before we stop reading


class Refused(Exception):
    """The upgrade is refused with an HTTP status (403 for a bad token, as Phoenix does)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def authenticate(gateway: Gateway, token: str | None) -> Claims:
    try:
        return verified_tokens(gateway.settings.secret or "").claims(token or "")
    except InvalidToken as exc:
        logger.info("refused websocket: %s", exc)
        raise Refused(403, f"invalid token: {exc}") from None


class Connection(Protocol):
    """What a socket needs from the connection under it."""

    def send(self, frame: bytes) -> None:
        """Write, or queue within the connection's bound; never blocks."""

    def close(self, code: int, reason: str) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Socket:
    """Client messages are handled one at a time, in order; a heartbeat with
    nothing ahead of it is answered at once, without a task."""

    __slots__ = (
        "channels", "claims", "closed", "connection", "dispatcher", "gateway", "heard", "inbox", "serializer",
    )  # fmt: skip

    def __init__(self, connection: Connection, serializer: Serializer, claims: Claims, gateway: Gateway) -> None:
        self.connection = connection
        self.serializer = serializer
        self.claims = claims
        self.gateway = gateway
        self.channels: dict[str, Channel | DocumentChannel | TenantChannel] = {}
        self.inbox: list[Message] = []  # a list: cheaper than a deque for a few messages
        self.dispatcher: asyncio.Task[None] | None = None
        self.closed = False
        self.heard = time.monotonic()

    # writing

    def send(self, frame: bytes) -> None:
        if not self.closed:
            self.connection.send(frame)

    def reply(self, message: Message, status: str, response: dict[str, Any] | None = None) -> None:
        self.send(reply(self.serializer, message, status, response))

    def _error(self, topic: str | None, ref: str | None, join_ref: str | None, reason: str, detail: str) -> None:
        payload = {"status": "error", "response": {"reason": reason, "message": detail}}
        self.send(self.serializer.encode(join_ref, ref, topic or "phoenix", "phx_reply", payload))

    def close(self, code: int, reason: str) -> None:
        """Close the connection; the socket's channels leave at once."""
        if not self.closed:
            self.gone()
            self.connection.close(code, reason)

    def gone(self) -> None:
        """The connection is closed or closing: leave every channel, drop pending work."""
        self.closed = True
        self.inbox.clear()
        for channel in list(self.channels.values()):
            channel.leave()
        if self.dispatcher is not None:
            self.dispatcher.cancel()

    # reading

    def receive(self, data: bytes) -> None:
        """One WebSocket message from the client."""
        self.heard = time.monotonic()
        if self.closed:
            return
        limit = self.gateway.settings.max_frame_bytes
        if len(data) > limit:
            self._error(None, None, None, "too_large", f"frame exceeds {limit} bytes")
            return
        try:
            message = self.serializer.decode(data)
        except FrameError as exc:
            self._error(exc.topic, exc.ref, exc.join_ref, "bad_request", exc.reason)
            return
        if self.dispatcher is None and message.topic == "phoenix" and message.event == "heartbeat":
            self.reply(message, "ok")
            return
        self.inbox.append(message)
        if self.dispatcher is None:
            self.dispatcher = asyncio.create_task(self._dispatch_inbox())
        elif len(self.inbox) == INBOX_LIMIT:
            self.connection.pause_reading()

    async def _dispatch_inbox(self) -> None:
        try:
            while self.inbox:
                message = self.inbox.pop(0)
                if len(self.inbox) == INBOX_LIMIT - 1:
                    self.connection.resume_reading()
                await self._dispatch(message)
        except Exception:
            logger.exception("socket failed while handling a client message")
            self.close(1011, "internal error")
        finally:
            self.dispatcher = None

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
        if event != "phx_leave":  # every other push takes a token from its user's bucket for the topic
            try:
                await self.gateway.limits.take(self.claims, bucket_of(topic))
            except ChatError as refused:
                self.reply(message, "error", {"reason": refused.code, "message": refused.message, **refused.extra})
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
        answer = await channel.handle_in(event, message.payload)
        if answer is not None:  # document pushes are answered with pushes, and replied to only when refused
            self.reply(message, *answer)

    async def _join(self, message: Message) -> None:
        session_id, document = keys.session_id_of(message.topic), parse_topic(message.topic)
        tenant = tenant_of_topic(message.topic)
        if session_id is None and document is None and tenant is None:
            topics = "ai_session:<id>, doc:<session_id>:<workflow_yaml|job_code> and tenant:<id>"
            self.reply(message, "error", {"reason": "unmatched topic", "message": f"topics are {topics}"})
            return
        if not isinstance(message.payload, dict):
            self.reply(message, "error", {"reason": "bad_request", "message": "join params must be an object"})
            return
        previous = self.channels.pop(message.topic, None)
        if previous is not None:  # a rejoin replaces the old channel, as in Phoenix
            previous.leave()
            self.send(self.serializer.encode(previous.join_ref, previous.join_ref, message.topic, "phx_close", {}))
        channel: Channel | DocumentChannel | TenantChannel
        gateway = self.gateway
        if document is not None:
            channel = DocumentChannel(
                self, message.topic, *document, message.join_ref, chat=gateway.chat, documents=gateway.documents
            )
        elif session_id is not None:
            channel = gateway.session_channel(self, message.topic, session_id, message.join_ref)
        else:
            channel = TenantChannel(
                self, message.topic, tenant or "", message.join_ref, tenant_topics=gateway.tenant_topics
            )
        self.channels[message.topic] = channel
        await channel.join(message)

    # Transport, for channels

    def forget(self, channel: JoinedTopic) -> None:
        if self.channels.get(channel.topic) is channel:
            del self.channels[channel.topic]

    def rejoin_needed(self, channel: JoinedTopic) -> None:
        self.send(self.serializer.encode(channel.join_ref, channel.join_ref, channel.topic, "phx_error", {}))

    def closed_by_server(self, channel: JoinedTopic) -> None:
        self.send(self.serializer.encode(channel.join_ref, channel.join_ref, channel.topic, "phx_close", {}))

    def last_heard(self) -> float:
        return self.heard
