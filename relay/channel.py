"""The `ai_session:<id>` channel: join with resume, live pushes, client pushes.

The join seam is race-free: the channel subscribes first and buffers what
arrives, then reads the log or the snapshot, answers, and releases the buffer
minus what the answer already covered. From then on `seq` must grow by one;
a hole or a new epoch makes the client rejoin (`phx_error`) with `since`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from schema.events import SESSION_DELETED, Envelope, EnvelopeError, decode
from schema.presence_codec import PRESENCE_STATE

from .broker.base import BrokerUnavailable
from .errors import bad_request, translate
from .fanout import Delivery
from .presence_tracker import PresenceDiff
from .serializer import Message

if TYPE_CHECKING:
    from .chat import Chat
    from .fanout import Fanout
    from .join_page import JoinPages
    from .presence_tracker import PresenceTracker
    from .tenants import Tenants
    from .transport import Transport

logger = logging.getLogger(__name__)

JOIN_TIMEOUT = 10.0
JOINING, JOINED, CLOSED = "joining", "joined", "closed"


def parse_since(params: dict[str, Any]) -> tuple[str, int] | None:
    since = params.get("since")
    if since is None:
        return None
    if not isinstance(since, dict):
        raise bad_request("since must be an object {seq, epoch}")
    seq, epoch = since.get("seq"), since.get("epoch")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0 or not isinstance(epoch, str):
        raise bad_request("since must be {seq: non-negative integer, epoch: string}")
    return epoch, seq


class Channel:
    __slots__ = (
        "buffer", "chat", "epoch", "fanout", "join_ref", "pages", "presence_pending", "presence_ref", "presences",
        "seq", "session_id", "state", "tenants", "topic", "transport",
    )  # fmt: skip

    def __init__(
        self,
        transport: Transport,
        topic: str,
        session_id: str,
        join_ref: str | None,
        *,
        chat: Chat,
        tenants: Tenants,
        fanout: Fanout,
        pages: JoinPages,
        presences: PresenceTracker,
    ) -> None:
        self.transport = transport
        self.chat = chat
        self.tenants = tenants
        self.fanout = fanout
        self.pages = pages
        self.presences = presences
        self.topic = topic
        self.session_id = session_id
        self.join_ref = join_ref
        self.state = JOINING
        self.epoch = ""
        self.seq = 0
        self.buffer: list[Delivery] = []
        self.presence_ref: str | None = None  # this tab's phx_ref once it is in the session's presence
        self.presence_pending: list[bytes] | None = None  # diffs that come while the presence_state is read

    # joining

    async def join(self, message: Message) -> None:
        try:
            async with asyncio.timeout(JOIN_TIMEOUT):
                response, missed = await self._prepare(message.payload)
        except TimeoutError:
            self._refuse(message, "unavailable", f"the join took longer than {JOIN_TIMEOUT:g} s, retry shortly")
            return
        except Exception as exc:
            refusal = translate(exc)
            if refusal is None:
                raise
            self._refuse(message, refusal.code, refusal.message)
            return
        if self.state == CLOSED:  # left while joining
            return
        self.transport.reply(message, "ok", response)
        for envelope in missed:
            self._push(envelope.seq, envelope.epoch, self.transport.serializer.encode_event(self.topic, envelope))
        buffered, self.buffer = self.buffer, []
        self.state = JOINED
        for delivery in buffered:
            self.receive(delivery)
        await self._enter_presence()

    async def _prepare(self, params: dict[str, Any]) -> tuple[dict[str, Any], list[Envelope]]:
        claims = self.transport.claims
        since = parse_since(params)
        settings = await self.tenants.require_assistant(claims)
        await self.fanout.join(self.topic, self)
        try:
            # The session and messages are read after the position: a message that completes in
            # between shows up in them and as a later event, never in neither (clients upsert by id).
            position, (session, messages) = await self.pages.read(claims, self.session_id, since)
        except BaseException:
            self.leave()
            raise
        snapshot, replayed = position.snapshot, position.replayed
        self.epoch, self.seq = snapshot.epoch, snapshot.seq
        missed: list[Envelope] = []
        if replayed is not None:
            missed = [_decode_logged(data) for data in replayed]
            self.seq = since[1] if since is not None else snapshot.seq
        response = {
            "epoch": self.epoch,
            "seq": self.seq,
            "recovered": replayed is not None,
            "session": session,
            "messages": messages,
            "streaming": snapshot.streaming.to_dict(snapshot.seq) if snapshot.streaming is not None else None,
            "assistant": self.tenants.assistant(settings),
        }
        return response, missed

    def _refuse(self, message: Message, reason: str, detail: str) -> None:
        self.leave()
        self.transport.reply(message, "error", {"reason": reason, "message": detail})

    # live events

    def receive(self, delivery: Delivery) -> None:
        if self.state == JOINED:
            self._push(delivery.seq, delivery.epoch, delivery.frame(self.transport.serializer))
            if delivery.envelope.event == SESSION_DELETED and self.state == JOINED:
                self.leave()
                self.transport.closed_by_server(self)
        elif self.state == JOINING:
            self.buffer.append(delivery)

    def _push(self, seq: int, epoch: str, frame: bytes) -> None:
        if epoch == self.epoch and seq <= self.seq:
            return  # already covered by the join reply or the replay
        if epoch != self.epoch or seq != self.seq + 1:
            logger.warning("%s: expected seq %s of %s, got %s of %s", self.topic, self.seq + 1, self.epoch, seq, epoch)
            self.resync()
            return
        self.seq = seq
        self.transport.send(frame)

    def resync(self) -> None:
        """Events may be lost (a `seq` gap, a new epoch, a broker reconnect): make the client
        rejoin (phoenix.js does) with `since`."""
        if self.state == CLOSED:
            return
        self.leave()
        self.transport.rejoin_needed(self)

    def leave(self) -> None:
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.buffer = []
        self.presence_pending = None
        if self.presence_ref is not None:
            self.presences.leave(self.presence_ref)
        self.fanout.leave(self.topic, self)
        self.transport.forget(self)

    # presence: not session events (no seq, not logged); WebSocket tabs only

    async def _enter_presence(self) -> None:
        """Add this tab to the session's presence and send `presence_state`; diffs follow it."""
        transport = self.transport
        if transport.last_heard() is None:
            return
        tracker = self.presences
        self.presence_pending = []
        try:
            ref, state = await tracker.join(
                self.session_id, transport.claims.user, transport.claims.name, transport.last_heard
            )
        except BrokerUnavailable as exc:
            logger.warning("%s: joined without presence: %s", self.topic, exc)
            self.presence_pending = None
            return
        if self.state == CLOSED:  # left meanwhile
            tracker.leave(ref)
            return
        self.presence_ref = ref
        transport.send(transport.serializer.encode(None, None, self.topic, PRESENCE_STATE, state))
        pending, self.presence_pending = self.presence_pending, None
        for frame in pending:
            transport.send(frame)

    def presence(self, diff: PresenceDiff) -> None:
        if self.state != JOINED:
            return
        if self.presence_pending is not None:
            self.presence_pending.append(diff.frame(self.transport.serializer))
        elif self.presence_ref is not None:
            self.transport.send(diff.frame(self.transport.serializer))

    # client pushes

    async def handle_in(self, event: str, payload: dict[str, Any] | bytes) -> tuple[str, dict[str, Any]]:
        chat, claims = self.chat, self.transport.claims
        if not isinstance(payload, dict):
            return "error", {"reason": "bad_request", "message": "payloads on a session topic are JSON objects"}
        try:
            if event == "new_message":
                content, edit = payload.get("content"), payload.get("edit")
                question, answer = await chat.send_message(claims, self.session_id, content, edit)
                return "ok", {"message_id": question, "response_message_id": answer}
            if event == "regenerate":
                question, answer = await chat.regenerate(claims, self.session_id)
                return "ok", {"message_id": question, "response_message_id": answer}
            if event == "stop":
                return "ok", {"message_id": await chat.stop(claims, self.session_id)}
            if event == "claim_changes":
                return "ok", {"granted": await chat.grants.grant(claims, self.session_id, payload.get("change_id"))}
        except Exception as exc:
            refusal = translate(exc)
            if refusal is None:
                raise
            return "error", {"reason": refusal.code, "message": refusal.message, **refusal.extra}
        return "error", {"reason": "unknown_event", "message": f"unknown event {event!r}"}


def _decode_logged(data: bytes) -> Envelope:
    try:
        return decode(data)
    except EnvelopeError as exc:
        raise BrokerUnavailable(f"the session log holds an undecodable event: {exc}") from exc
