"""The topic bus role: announcements on named topics, each delivered to the handlers registered for it.

Stop requests (`keys.STOP_TOPIC`) and tenant settings changes (`keys.SETTINGS_TOPIC`) are ordinary
topics here; so are a session's events and a document's updates, which their roles publish. A handler
registered for a topic receives that topic only. After a broker reconnect every registered handler is
told (`resubscribed`): what was announced while the broker was away may be lost.
"""

from __future__ import annotations

import abc
from typing import Protocol


class TopicHandler(Protocol):
    def deliver(self, topic: str, data: bytes) -> None:
        """Data arrived on a topic this handler is registered for; must not block."""

    def resubscribed(self) -> None:
        """The broker reconnected: what was published while it was away may be lost."""


class TopicBus(abc.ABC):
    @abc.abstractmethod
    async def subscribe(self, topic: str, handler: TopicHandler) -> None:
        """Register `handler` for `topic`; return once what is published on it from now on reaches it."""

    @abc.abstractmethod
    async def unsubscribe(self, topic: str, handler: TopicHandler) -> None:
        """Stop delivering `topic` to `handler` (and stop receiving it once no handler is left)."""

    @abc.abstractmethod
    async def announce(self, topic: str, data: bytes, keep: bool = False) -> None:
        """Publish `data` on `topic`, to every process; `keep` also keeps it (for the broker's ttl) for
        whoever asks later (`kept`): a worker that starts a generation after its stop was announced."""

    @abc.abstractmethod
    async def kept(self, topic: str, data: bytes) -> bool:
        """Whether `data` was announced on `topic` with `keep`."""


class Router:
    """Handlers by topic, for the implementations: what a subscription delivers goes to its topic's handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, tuple[TopicHandler, ...]] = {}

    def add(self, topic: str, handler: TopicHandler) -> None:
        """Register (once: a retried subscribe registers nothing more); in order of registration."""
        present = self.handlers.get(topic, ())
        if handler not in present:
            self.handlers[topic] = (*present, handler)

    def remove(self, topic: str, handler: TopicHandler) -> bool:
        """Unregister; True when the topic has no handler left."""
        left = tuple(h for h in self.handlers.get(topic, ()) if h is not handler)
        if left:
            self.handlers[topic] = left
        else:
            self.handlers.pop(topic, None)
        return not left

    def deliver(self, topic: str, data: bytes) -> None:
        for handler in self.handlers.get(topic, ()):
            handler.deliver(topic, data)

    def resubscribed(self) -> None:
        """Tell every handler once, whatever the number of its topics."""
        for handler in dict.fromkeys(h for handlers in self.handlers.values() for h in handlers):
            handler.resubscribed()
