"""The documents this gateway hosts for its tabs: one `Room` per document topic, subscribed while used.

The handler of the document topics it subscribes on the topic bus: their messages reach their
room; a broker reconnect makes every room catch up (`Room.recover`).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema import keys
from schema.documents import NAMES

from .broker.base import BrokerUnavailable
from .broker.document_edit import new_origin
from .broker.documents import DELETED, DocumentBus, DocumentMessage
from .broker.topic_bus import TopicBus
from .document_room import Room, Tab

logger = logging.getLogger(__name__)

CLOSE_PATIENCE = 10.0  # seconds a shutting-down gateway waits for its rooms' last folds


class Documents:
    def __init__(
        self, topics: TopicBus, bus: DocumentBus, db: async_sessionmaker[AsyncSession], fold_bytes: int
    ) -> None:
        self.topics = topics
        self.bus = bus
        self.db = db
        self.fold_bytes = fold_bytes
        self.rooms: dict[str, Room] = {}
        self.loading: dict[str, asyncio.Task[None]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def track(self, task: asyncio.Task[None]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a document task failed", exc_info=task.exception())

    async def enter(self, topic: str, session_id: str, name: str, tab: Tab) -> Room:
        """The document's room, loaded, with `tab` in it."""
        room = self.rooms.get(topic)
        if room is None:
            room = self.rooms[topic] = Room(topic, session_id, name, self.bus, self)
            self.loading[topic] = asyncio.create_task(self._open(room), name=f"open {topic}")
        room.tabs.add(tab)  # keeps the room while it loads
        loading = self.loading.get(topic)
        try:
            if loading is not None:
                await asyncio.shield(loading)
        except BaseException:
            self.leave(room, tab)
            raise
        room.enter(tab)
        return room

    async def _open(self, room: Room) -> None:
        try:
            await self.topics.subscribe(room.topic, self)
            await room.load()
        except BaseException:
            if self.rooms.get(room.topic) is room:
                del self.rooms[room.topic]
            raise
        finally:
            self.loading.pop(room.topic, None)

    def leave(self, room: Room, tab: Tab) -> None:
        room.leave(tab)
        if not room.tabs and self.rooms.get(room.topic) is room:
            del self.rooms[room.topic]
            self.track(asyncio.create_task(self._close(room), name=f"close {room.topic}"))

    async def _close(self, room: Room) -> None:
        """The last tab here left: store what the room added, then stop listening (unless it was reopened)."""
        await room.fold()
        if room.topic not in self.rooms:
            await self.topics.unsubscribe(room.topic, self)

    async def close(self) -> None:
        """Shutting down: store what every room added, the rooms whose last tab just left included."""
        rooms, self.rooms = list(self.rooms.values()), {}
        await asyncio.gather(*(room.fold() for room in rooms), return_exceptions=True)
        if self.tasks:  # closing rooms' folds, sends still under way
            await asyncio.wait(set(self.tasks), timeout=CLOSE_PATIENCE)

    async def session_deleted(self, session_id: str) -> None:
        """Close the session's documents in every gateway: their tabs get `phx_close`."""
        for name in NAMES:
            try:
                await self.bus.announce(
                    keys.doc_topic(session_id, name), DocumentMessage(DELETED, new_origin(), b"")
                )
            except BrokerUnavailable:  # its rooms fold into nothing (the rows are gone) until their tabs leave
                logger.warning("could not close the documents of deleted session %s", session_id)

    # TopicHandler of the subscribed document topics

    def deliver(self, topic: str, data: bytes) -> None:
        room = self.rooms.get(topic)
        if room is None:
            return
        message = DocumentMessage.decode(data)
        if message is None or message.origin == room.origin:
            return
        if message.kind == DELETED:
            del self.rooms[topic]
            room.close()
            self.track(asyncio.create_task(self.topics.unsubscribe(topic, self), name=f"unsubscribe {topic}"))
        else:
            room.remote(message)

    def resubscribed(self) -> None:
        for room in list(self.rooms.values()):
            if room.loaded:
                self.track(asyncio.create_task(room.recover(), name=f"recover {room.topic}"))
