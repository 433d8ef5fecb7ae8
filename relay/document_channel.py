"""The `doc:<session_id>:<name>` channel: a tab editing a hosted document (docs/protocol.md,
"Collaborative documents").

Joined with the session's token and tenant rules. Its pushes are binary:
`yjs_sync` (the tab's sync step 1) and `yjs` (step 2, updates, awareness), each
a y-protocols message, answered with binary `yjs` pushes; they get no reply
unless refused, as with y_ex.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from schema.documents import RELAY

from .channel import JOIN_TIMEOUT
from .document_room import DocumentFull, Room
from .errors import bad_request, told
from .serializer import BinarySerializer, Message
from .yjs_messages import MalformedMessage

if TYPE_CHECKING:
    from .chat import Chat
    from .documents import Documents
    from .transport import Transport

YJS, YJS_SYNC = "yjs", "yjs_sync"


class DocumentChannel:
    __slots__ = (
        "awareness", "chat", "documents", "join_ref", "left", "name", "room", "serializer", "session_id", "topic",
        "transport",
    )  # fmt: skip

    def __init__(
        self, transport: Transport, topic: str, session_id: str, name: str, join_ref: str | None, *,
        chat: Chat, documents: Documents,
    ) -> None:  # fmt: skip
        self.transport = transport
        self.chat = chat
        self.documents = documents
        self.topic = topic
        self.session_id = session_id
        self.name = name
        self.join_ref = join_ref
        self.serializer: BinarySerializer = transport.serializer  # type: ignore[assignment]
        self.room: Room | None = None
        self.awareness: dict[int, int] = {}
        self.left = False

    async def join(self, message: Message) -> None:
        if not getattr(self.transport.serializer, "binary", False):
            self._refuse(message, "bad_request", "Documents need binary frames: connect with vsn=2.0.0.")
            return
        try:
            async with asyncio.timeout(JOIN_TIMEOUT):
                mode = await self.chat.documents_mode(self.transport.claims, self.session_id)
                if mode != RELAY:
                    raise bad_request("This session's documents are kept by its application.")
                room = await self.documents.enter(self.topic, self.session_id, self.name, self)
        except TimeoutError:
            self._refuse(message, "unavailable", f"the join took longer than {JOIN_TIMEOUT:g} s, retry shortly")
            return
        except Exception as exc:
            refusal = told(exc)
            self._refuse(message, refusal.code, refusal.message)
            return
        if self.left:  # the tab went away while joining
            self.documents.leave(room, self)
            return
        self.room = room
        self.transport.reply(message, "ok", {})

    def _refuse(self, message: Message, reason: str, detail: str) -> None:
        self.transport.forget(self)
        self.transport.reply(message, "error", {"reason": reason, "message": detail})

    async def handle_in(self, event: str, payload: dict[str, Any] | bytes) -> tuple[str, dict[str, Any]] | None:
        if event not in (YJS, YJS_SYNC):
            return "error", {"reason": "unknown_event", "message": f"unknown event {event!r}"}
        if not isinstance(payload, bytes):
            return "error", {"reason": "bad_request", "message": f"{event} pushes carry binary y-protocols messages"}
        if self.room is None:
            return "error", {"reason": "unmatched topic", "message": f"{self.topic} is not joined"}
        try:
            self.room.receive(self, payload)
        except DocumentFull as exc:
            return "error", {"reason": "too_large", "message": str(exc)}
        except MalformedMessage as exc:
            return "error", {"reason": "bad_request", "message": str(exc)}
        return None

    # Tab, for the room

    def send(self, frame: bytes) -> None:
        self.transport.send(frame)

    def push_yjs(self, message: bytes) -> None:
        self.transport.send(self.serializer.encode_binary_push(self.join_ref, self.topic, YJS, message))

    def leave(self) -> None:
        self.left = True
        room, self.room = self.room, None
        if room is not None:
            self.documents.leave(room, self)
        self.transport.forget(self)

    def closed_by_server(self) -> None:
        self.left = True
        self.room = None
        self.transport.forget(self)
        self.transport.closed_by_server(self)

    def resync(self) -> None:
        """Rooms catch up by themselves after a broker reconnect (`Room.recover`)."""
