"""Topic → local subscribers, with one broker subscription per topic per process.

Each event is decoded once and its frame encoded once per wire format, then
handed to every subscriber of the topic ("fastlane"); nothing is re-encoded
per socket.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Protocol

from schema.events import Envelope, EnvelopeError, decode
from schema.presence_codec import Presences, decode_diff, is_diff, merge_diff

from .broker.log import EventLog
from .metrics import EVENTS_IN, EVENTS_OUT, JOINED_TOPICS
from .presence_tracker import PresenceDiff
from .serializer import Serializer

logger = logging.getLogger(__name__)


class Delivery:
    """One event on its way to this process's subscribers; frames are encoded on first use."""

    __slots__ = ("envelope", "epoch", "frames", "seq", "topic")

    def __init__(self, topic: str, envelope: Envelope) -> None:
        self.topic = topic
        self.envelope = envelope
        self.seq, self.epoch = envelope.seq, envelope.epoch  # read by every subscriber: no call per read
        self.frames: dict[Serializer, bytes] = {}

    def frame(self, serializer: Serializer) -> bytes:
        frame = self.frames.get(serializer)
        if frame is None:
            frame = self.frames[serializer] = serializer.encode_event(self.topic, self.envelope)
        return frame


class Subscriber(Protocol):
    def receive(self, delivery: Delivery) -> None:
        """An event for the subscribed topic; must not block."""

    def resync(self) -> None:
        """Events may have been missed (the broker connection was lost and restored): catch up."""

    def presence(self, diff: PresenceDiff) -> None:
        """Tabs joined or left the topic (not a session event: no seq); must not block."""


@dataclass
class _Topic:
    ready: asyncio.Task[None]
    subscribers: set[Subscriber] = field(default_factory=set)


class Fanout:
    def __init__(self, event_log: EventLog) -> None:
        self.event_log = event_log
        self.topics: dict[str, _Topic] = {}
        self.unsubscribing: set[asyncio.Task[None]] = set()
        self.diffs: dict[str, dict[str, Presences]] = {}  # presence diffs of this loop iteration, per topic

    async def join(self, topic: str, subscriber: Subscriber) -> None:
        """Add a subscriber; returns once the process receives the topic's events.

        Concurrent joins of one topic share the one broker subscription and all
        wait for it to be confirmed.
        """
        state = self.topics.get(topic)
        if state is None:
            state = _Topic(asyncio.create_task(self.event_log.subscribe(topic, self), name=f"subscribe {topic}"))
            self.topics[topic] = state
            JOINED_TOPICS.set(len(self.topics))
        state.subscribers.add(subscriber)
        if state.ready.done() and not state.ready.cancelled() and state.ready.exception() is None:
            return  # subscribed already: most joins (no shield, no wait)
        try:
            await asyncio.shield(state.ready)
        except BaseException:
            self.leave(topic, subscriber)
            raise

    def leave(self, topic: str, subscriber: Subscriber) -> None:
        state = self.topics.get(topic)
        if state is None or subscriber not in state.subscribers:
            return
        state.subscribers.discard(subscriber)
        if not state.subscribers:
            del self.topics[topic]
            JOINED_TOPICS.set(len(self.topics))
            if not state.ready.done():
                state.ready.cancel()
            task = asyncio.create_task(self._unsubscribe(topic), name=f"unsubscribe {topic}")
            self.unsubscribing.add(task)
            task.add_done_callback(self.unsubscribing.discard)

    async def _unsubscribe(self, topic: str) -> None:
        try:
            await self.event_log.unsubscribe(topic, self)
        except Exception:
            logger.exception("unsubscribing %s failed", topic)

    # TopicHandler of the joined session topics

    def deliver(self, topic: str, data: bytes) -> None:
        state = self.topics.get(topic)
        if state is None:
            return
        if is_diff(data):
            self._presence(topic, data)
            return
        try:
            envelope = decode(data)
        except EnvelopeError as exc:
            # Subscribers see the hole in `seq` at the next event and make their
            # clients rejoin, so this costs a resume, never a silent gap.
            logger.error("undecodable event on %s: %s", topic, exc)
            return
        delivery = Delivery(topic, envelope)
        EVENTS_IN.inc()
        EVENTS_OUT.inc(len(state.subscribers))
        for subscriber in list(state.subscribers):
            subscriber.receive(delivery)

    def _presence(self, topic: str, data: bytes) -> None:
        """Diffs of one topic that arrive together (tabs joining at once) go out as one, at the end of the
        loop iteration: a tab is sent one frame instead of one per tab that joined."""
        try:
            diff = decode_diff(data)
        except ValueError as exc:
            logger.error("undecodable presence diff on %s: %s", topic, exc)
            return
        if not self.diffs:
            asyncio.get_running_loop().call_soon(self._send_diffs)
        pending = self.diffs.get(topic)
        if pending is None:
            self.diffs[topic] = diff
        else:
            merge_diff(pending, diff)

    def _send_diffs(self) -> None:
        diffs, self.diffs = self.diffs, {}
        for topic, diff in diffs.items():
            state = self.topics.get(topic)
            if state is not None:
                presence = PresenceDiff(topic, diff)
                for subscriber in list(state.subscribers):
                    subscriber.presence(presence)

    def resubscribed(self) -> None:
        for state in list(self.topics.values()):
            if not state.ready.done():
                continue  # first confirmed on the new connection: nothing was missed yet
            for subscriber in list(state.subscribers):
                subscriber.resync()
