"""Server-sent events from the upstream's bytes, with a cap on an event's size."""

from __future__ import annotations

from httpx_sse import ServerSentEvent

from workers.providers.vocabulary import UpstreamError


class EventParser:
    """Splits a byte stream into SSE events, refusing any event larger than `max_bytes`.

    Our own parser rather than httpx-sse's iterator, which buffers a line of any length:
    counting bytes here keeps garbage from the upstream from growing without bound.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._buffer = bytearray()
        self._event_bytes = 0
        self._name = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        start = len(self._buffer)
        self._buffer += chunk
        events = []
        while (end := self._buffer.find(b"\n", start)) >= 0:
            line = bytes(self._buffer[:end]).removesuffix(b"\r")
            del self._buffer[: end + 1]
            start = 0
            self._event_bytes += end + 1
            self._check_size(self._event_bytes)
            if event := self._line(line.decode("utf-8", "replace")):
                events.append(event)
        self._check_size(self._event_bytes + len(self._buffer))
        return events

    def _check_size(self, size: int) -> None:
        if size > self._max_bytes:
            raise UpstreamError(f"The AI service sent an event larger than {self._max_bytes} bytes.")

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            event = None
            if self._name or self._data:
                event = ServerSentEvent(event=self._name, data="\n".join(self._data))
            self._name, self._data, self._event_bytes = "", [], 0
            return event
        if line.startswith(":"):
            if not (self._name or self._data):
                self._event_bytes = 0  # keep-alive comments between events are not part of one
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        return None
