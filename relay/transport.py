"""What a channel needs from the connection it lives on (a WebSocket, or an SSE stream)."""

from __future__ import annotations

from typing import Any, Protocol

from .auth import Claims
from .serializer import Message, Serializer


class JoinedTopic(Protocol):
    """A channel, as its transport sees it."""

    @property
    def topic(self) -> str: ...

    @property
    def join_ref(self) -> str | None: ...


class Transport(Protocol):
    claims: Claims
    serializer: Serializer

    def send(self, frame: bytes) -> None:
        """Queue a frame for the client; never blocks."""

    def reply(self, message: Message, status: str, response: dict[str, Any] | None = None) -> None:
        """Answer a client's message (a join, a push)."""

    def forget(self, channel: JoinedTopic) -> None:
        """The channel has left."""

    def rejoin_needed(self, channel: JoinedTopic) -> None:
        """Events may have been missed: have the client rejoin with `since`."""

    def closed_by_server(self, channel: JoinedTopic) -> None:
        """The channel's topic is gone (its session was deleted): tell the client, after what was queued."""

    def last_heard(self) -> float | None:
        """`time.monotonic()` of the client's last frame; None: this transport takes no part in presence."""
