"""One hosted document in one gateway: its pycrdt document, the tabs editing it here, its folds into SQL.

A tab's update is applied here, sent to the other tabs here, and appended to
the document's log in Redis, whose channel brings it to the other gateways;
theirs arrive the same way (`remote`). Awareness travels the same paths and is
never stored. Within `FOLD_DELAY` of a local update (sooner once the log holds
`fold_bytes`) the log is folded into SQL (`relay.broker.document_edit`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol, TypeVar

from pycrdt import Doc, create_sync_message, create_update_message, handle_sync_message, merge_updates, read_message
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema.documents import EMPTY_UPDATE, load, text_of

from .broker.base import BrokerUnavailable
from .broker.document_edit import current, fold_log, new_origin
from .broker.documents import AWARENESS, UPDATE, DocumentBus, DocumentMessage
from .serializer import BinarySerializer
from .yjs_messages import AWARENESS as AWARENESS_MESSAGE
from .yjs_messages import QUERY_AWARENESS as QUERY_MESSAGE
from .yjs_messages import (
    QUERY_AWARENESS_MESSAGE,
    SYNC,
    MalformedMessage,
    awareness_clocks,
    awareness_removal,
    message_type,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")
FOLD_DELAY = 1.0
MAX_AWARENESS_CLIENTS = 8  # a tab is one Yjs client; a few more (documents reopened) are allowed
DOCUMENT_MAX_BYTES = 1024 * 1024  # a document's encoded size that tabs' edits may not grow it past


class DocumentFull(ValueError):
    """An update that would grow a document past `DOCUMENT_MAX_BYTES`."""


def _decoded(step: Callable[[], T]) -> T:
    """A step that reads a tab's y-protocols message; what it cannot read is the tab's mistake."""
    try:
        return step()
    except (AssertionError, IndexError, RuntimeError, ValueError) as exc:
        raise MalformedMessage(f"the sync message is not a Yjs update: {exc}") from None


def grows(doc: Doc, update: bytes) -> bool:
    """Whether `update` makes the document bigger without shortening its text (checked on a copy: only
    near the size limit), so that deleting text stays possible and nothing else may grow it."""
    now = doc.get_update()
    trial = load([now, update])
    shorter = len(text_of(trial).encode()) < len(text_of(doc).encode())
    return not shorter and len(trial.get_update()) > len(now)


STEP1, STEP2, SYNC_UPDATE = 0, 1, 2


class Tab(Protocol):
    serializer: BinarySerializer
    awareness: dict[int, int]  # the awareness client ids this tab spoke for, with their last clocks

    def send(self, frame: bytes) -> None: ...

    def push_yjs(self, message: bytes) -> None:
        """A `yjs` push to this tab alone."""

    def closed_by_server(self) -> None:
        """The document is gone (its session was deleted): tell the tab (`phx_close`)."""


class Room:
    def __init__(self, topic: str, session_id: str, name: str, bus: DocumentBus, folder: Folder) -> None:
        self.topic, self.session_id, self.name = topic, session_id, name
        self.bus = bus
        self.folder = folder
        self.origin = new_origin()
        self.doc = load([])
        self.tabs: set[Tab] = set()
        self.loaded = False
        self.size = 0  # the document's encoded size, as of the last load or fold, plus the updates since
        self.waiting: list[bytes] = []  # remote updates that arrive while the room loads
        self.pending_bytes = 0  # appended since the last fold
        self.unlogged = False  # an update could not be appended: the next fold stores the whole document
        self.fold_timer: asyncio.TimerHandle | None = None
        self.outgoing: list[DocumentMessage] = []
        self.sender: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """Read the document (stored state and log), after the room's topic was subscribed."""
        loaded = await current(self.bus, self.folder.db, self.session_id, self.name)
        self.doc.apply_update(loaded.get_update())
        for update in self.waiting:
            self.doc.apply_update(update)
        self.waiting, self.loaded = [], True
        self.size = len(self.doc.get_update())

    # what tabs send

    def receive(self, tab: Tab, message: bytes) -> None:
        """A y-protocols message from a tab here; MalformedMessage when it is not one."""
        kind = message_type(message)
        if kind == SYNC:
            self._sync(tab, message)
        elif kind == AWARENESS_MESSAGE:
            clocks = awareness_clocks(message)
            if len(tab.awareness.keys() | clocks.keys()) > MAX_AWARENESS_CLIENTS:
                raise MalformedMessage(f"a tab speaks for at most {MAX_AWARENESS_CLIENTS} awareness clients")
            tab.awareness.update(clocks)
            self._broadcast_awareness(tab, message)
        elif kind == QUERY_MESSAGE:
            self._broadcast_awareness(tab, message)
        else:
            raise MalformedMessage(f"unknown message type {kind}")

    def _sync(self, tab: Tab, message: bytes) -> None:
        if len(message) < 2 or message[1] not in (STEP1, STEP2, SYNC_UPDATE):
            raise MalformedMessage("a sync message needs a sub-type: 0 step 1, 1 step 2, 2 update")
        if message[1] == STEP1:
            reply = _decoded(lambda: handle_sync_message(message[1:], self.doc))
            if reply is not None:
                tab.push_yjs(reply)
            tab.push_yjs(create_sync_message(self.doc))  # and what the tab has that we lack
            return
        update: bytes = _decoded(lambda: read_message(message[2:]))
        if update == EMPTY_UPDATE:
            return  # a tab's step 2 of what we had
        if self.size + len(update) > DOCUMENT_MAX_BYTES and grows(self.doc, update):
            raise DocumentFull(f"The document has reached its size limit of {DOCUMENT_MAX_BYTES} bytes.")
        _decoded(lambda: self.doc.apply_update(update))
        self.size += len(update)
        # Sent on even when it brought nothing new (a deletion leaves the state vector as it was): Yjs
        # updates are idempotent, so a duplicate costs bytes, never a wrong document.
        self._to_tabs(create_update_message(update), skip=tab)
        self._log(update)

    def _log(self, update: bytes) -> None:
        self.pending_bytes += len(update)
        self._to_bus(DocumentMessage(UPDATE, self.origin, update))

    def _broadcast_awareness(self, tab: Tab | None, message: bytes) -> None:
        self._to_tabs(message, skip=tab)
        self._to_bus(DocumentMessage(AWARENESS, self.origin, message))

    def _to_bus(self, message: DocumentMessage) -> None:
        """Queue for Redis; one task sends a burst, in order."""
        self.outgoing.append(message)
        if self.sender is None:
            self.sender = asyncio.create_task(self._send_outgoing(), name=f"send {self.topic}")
            self.folder.track(self.sender)

    async def _send_outgoing(self) -> None:
        try:
            while self.outgoing:
                message = self._next_outgoing()
                try:
                    if message.kind == UPDATE:
                        await self.bus.append_update(self.topic, message)
                        self._schedule_fold()
                    else:
                        await self.bus.announce(self.topic, message)
                except BrokerUnavailable as exc:  # awareness is ephemeral: the next one carries it
                    if message.kind == UPDATE:
                        logger.warning("%s: update kept here, for the next fold: %s", self.topic, exc)
                        self.unlogged = True
                        self._schedule_fold()
        finally:
            self.sender = None

    def _next_outgoing(self) -> DocumentMessage:
        """The next message for Redis; updates queued back to back (typing faster than a round trip to Redis)
        go as one merged update: one append and one publish."""
        first = self.outgoing.pop(0)
        if first.kind != UPDATE or not self.outgoing or self.outgoing[0].kind != UPDATE:
            return first
        updates = [first.payload]
        while self.outgoing and self.outgoing[0].kind == UPDATE:
            updates.append(self.outgoing.pop(0).payload)
        return DocumentMessage(UPDATE, self.origin, merge_updates(*updates))

    def enter(self, tab: Tab) -> None:
        self.tabs.add(tab)
        self._broadcast_awareness(tab, QUERY_AWARENESS_MESSAGE)  # the others answer with their cursors

    def leave(self, tab: Tab) -> None:
        self.tabs.discard(tab)
        if tab.awareness:
            self._broadcast_awareness(tab, awareness_removal(tab.awareness))
            tab.awareness = {}

    # what other gateways and edits send

    def remote(self, message: DocumentMessage) -> None:
        if message.kind == AWARENESS:
            self._to_tabs(message.payload)
            return
        if not self.loaded:
            self.waiting.append(message.payload)
            return
        try:
            self.doc.apply_update(message.payload)
        except ValueError as exc:
            logger.error("%s: an undecodable update on the channel: %s", self.topic, exc)
            return
        self.size += len(message.payload)
        self._to_tabs(create_update_message(message.payload))

    def close(self) -> None:
        """The session was deleted: nothing more is stored, every tab here is told."""
        if self.fold_timer is not None:
            self.fold_timer.cancel()
            self.fold_timer = None
        self.outgoing.clear()
        for tab in list(self.tabs):
            tab.closed_by_server()
        self.tabs.clear()

    async def recover(self) -> None:
        """The broker reconnected (Redis may have restarted, even without its data): catch up with the stored
        document and log, and give the others what they may have missed from here."""
        before = self.doc.get_state()
        self.doc.apply_update((await current(self.bus, self.folder.db, self.session_id, self.name)).get_update())
        missed = self.doc.get_update(before)
        if missed != EMPTY_UPDATE:
            self._to_tabs(create_update_message(missed))
        self._log(self.doc.get_update())

    def _to_tabs(self, message: bytes, skip: Tab | None = None) -> None:
        frames: dict[BinarySerializer, bytes] = {}
        for tab in self.tabs:
            if tab is skip:
                continue
            frame = frames.get(tab.serializer)
            if frame is None:
                frame = frames[tab.serializer] = tab.serializer.encode_binary_broadcast(self.topic, "yjs", message)
            tab.send(frame)

    # folding

    def _schedule_fold(self) -> None:
        if self.pending_bytes >= self.folder.fold_bytes:
            self._fold_soon(0)
        elif self.fold_timer is None:
            self._fold_soon(FOLD_DELAY)

    def _fold_soon(self, delay: float) -> None:
        if self.fold_timer is not None:
            self.fold_timer.cancel()
        self.fold_timer = asyncio.get_running_loop().call_later(delay, self._start_fold)

    def _start_fold(self) -> None:
        self.fold_timer = None
        self.folder.track(asyncio.create_task(self.fold()))

    async def fold(self) -> None:
        """Store what this room added: the log folded into SQL (the whole document when an append failed)."""
        if self.fold_timer is not None:
            self.fold_timer.cancel()
            self.fold_timer = None
        if self.sender is not None:  # updates still on their way to the log are folded with it
            await asyncio.wait({self.sender})
        pending, unlogged = self.pending_bytes, self.unlogged
        self.pending_bytes, self.unlogged = 0, False
        whole = self.doc.get_update()
        self.size = len(whole)
        try:
            whole = whole if unlogged else None
            await fold_log(self.bus, self.folder.db, self.session_id, self.name, whole)
        except Exception as exc:  # Redis or SQL away: try again later, keeping what is owed
            logger.warning("%s: fold failed, retrying: %s", self.topic, exc)
            self.pending_bytes += pending
            self.unlogged = self.unlogged or unlogged
            self._fold_soon(FOLD_DELAY)


class Folder(Protocol):
    """What rooms share: the database, the fold threshold, and the tasks they start."""

    db: async_sessionmaker[AsyncSession]
    fold_bytes: int

    def track(self, task: asyncio.Task[None]) -> None: ...
