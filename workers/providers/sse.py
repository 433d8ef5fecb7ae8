"""Server-sent events from the upstream's bytes, with a cap on an event's size."""

from __future__ import annotations

from httpx_sse import ServerSentEvent

from workers.providers.vocabulary import UpstreamError


class EventParser:
    """Splits a byte stream into SSE events, refusing any event larger than `max_bytes`.

    Our own parser rather than httpx-sse's iterator, which buffers a line of any length:
    counting bytes here keeps garbage from the upstream from growing without bound. A read
    of whole lines (the usual streamed chunk) is split at once, without copying it into the
    buffer, which holds only a line not yet ended.
    """

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._buffer = bytearray()  # the unfinished line
        self._event_bytes = 0  # of the event so far, its lines' newlines included
        self._name = b""
        self._data: list[bytes] = []

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        if self._buffer:
            start = len(self._buffer)
            self._buffer += chunk
            if self._buffer.find(b"\n", start) < 0:
                self._check_size(self._event_bytes + len(self._buffer))
                return []
            chunk = bytes(self._buffer)
            self._buffer.clear()
        end = chunk.rfind(b"\n")
        if end < 0:
            self._buffer += chunk
            self._check_size(self._event_bytes + len(self._buffer))
            return []
        if end + 1 < len(chunk):
            self._buffer += chunk[end + 1 :]
        events = []
        for line in chunk[:end].split(b"\n"):
            self._event_bytes += len(line) + 1
            self._check_size(self._event_bytes)
            if line.endswith(b"\r"):
                line = line[:-1]
            if not line:
                if self._name or self._data:
                    data = b"\n".join(self._data).decode("utf-8", "replace")
                    events.append(ServerSentEvent(event=self._name.decode("utf-8", "replace"), data=data))
                self._name, self._data, self._event_bytes = b"", [], 0
            elif line[0] == 58:  # ":", a comment
                if not (self._name or self._data):
                    self._event_bytes = 0  # keep-alive comments between events are not part of one
            else:
                field, _, value = line.partition(b":")
                if field == b"data":
                    self._data.append(value[1:] if value[:1] == b" " else value)
                elif field == b"event":
                    self._name = value[1:] if value[:1] == b" " else value
        self._check_size(self._event_bytes + len(self._buffer))
        return events

    def _check_size(self, size: int) -> None:
        if size > self._max_bytes:
            raise UpstreamError(f"The AI service sent an event larger than {self._max_bytes} bytes.")
