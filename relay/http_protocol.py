"""HTTP/1.1 connections whose request head must arrive within a deadline and a size.

uvicorn times out idle keep-alive connections but not a request whose headers
trickle in a byte at a time (a slowloris), which would hold a connection, and a
WebSocket upgrade, open forever. Here the head of every request (including an
upgrade) must be complete within `head_timeout` seconds of its first byte, or of
the connection opening; otherwise the client gets 408 and the connection closes.
Nor does uvicorn bound a head's size (httptools keeps every header until the
head ends): a head still arriving past `MAX_HEAD_BYTES` gets 431, and the rest
is not parsed. The bound is checked after each read, so a head that arrives
whole in one read (at most 256 KiB on uvloop) is served: memory per connection
stays within the bound plus one read.

A response sent while the request's body is still coming (a 413 for a body too
large, whatever length it declared) is followed by a lingering close, as nginx
does: the connection's sending side is shut (the client reads the whole answer
and its end), then what the client still sends is read and discarded for at most
`LINGER_SECONDS` and `LINGER_BYTES` before the connection closes. Closing at
once, with unread data, would make the kernel reset the connection, and the
client's read would fail before it saw the answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 64 * 1024  # a request line and headers; a browser's, cookies included, stay under 16 KiB
LINGER_SECONDS = 10.0
LINGER_BYTES = 256 * 1024 * 1024  # a client that sends all of its body before it reads (most do) reads the answer


def _closing_json(status_line: bytes, message: str, code: str) -> bytes:
    """A whole response, written straight to the transport, after which the connection closes."""
    body = orjson.dumps({"error": message, "code": code})
    return (
        status_line + b"\r\ncontent-type: application/json\r\ncontent-length: " + str(len(body)).encode()
        + b"\r\nconnection: close\r\n\r\n" + body
    )  # fmt: skip


TIMEOUT_RESPONSE = _closing_json(b"HTTP/1.1 408 Request Timeout", "The request took too long to arrive.", "timeout")
TOO_LARGE_RESPONSE = _closing_json(
    b"HTTP/1.1 431 Request Header Fields Too Large",
    f"The request's headers are larger than {MAX_HEAD_BYTES} bytes.",
    "too_large",
)


class _LingeringClose:
    """The transport as a request's cycle sees it: closing it while the request's body is still coming lingers."""

    def __init__(self, protocol: HeadDeadlineProtocol) -> None:
        self.protocol = protocol
        self.transport = protocol.transport

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)

    def close(self) -> None:
        cycle = self.protocol.cycle
        if cycle is not None and cycle.more_body and not self.transport.is_closing():
            self.protocol.linger()
        else:
            self.transport.close()


class HeadDeadlineProtocol(HttpToolsProtocol):
    head_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.head_deadline: asyncio.TimerHandle | None = None  # set while a head is coming
        self.head_bytes = 0  # received while a head was coming, since the last head ended
        self.lingering: int | None = None  # bytes the client may still send before the close, while lingering
        self.linger_deadline: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        if self.lingering is None:
            if self.head_deadline is not None:
                self.head_bytes += len(data)
            super().data_received(data)
            if self.head_deadline is not None and self.head_bytes > MAX_HEAD_BYTES and self.lingering is None:
                self._disarm()
                self.transport.write(TOO_LARGE_RESPONSE)
                self.linger()  # the client may still be sending its head: it reads the answer first
            return
        self.lingering -= len(data)  # discarded unparsed
        if self.lingering < 0:
            self.transport.close()

    def eof_received(self) -> None:
        if self.lingering is not None:
            self.transport.close()
            return
        super().eof_received()

    def handle_websocket_upgrade(self) -> None:
        """Hands the WebSocket protocol the request as parsed here (uvicorn's own method serialises it again,
        for the protocol to parse a second time)."""
        self.connections.discard(self)
        protocol = self.ws_protocol_class(  # type: ignore[call-arg, misc]
            config=self.config, server_state=self.server_state, app_state=self.app_state
        )
        protocol.connection_made(self.transport)
        self.transport.set_protocol(protocol)
        protocol.upgrade(self.scope["method"].encode(), self.url, self.scope["headers"])

    def linger(self) -> None:
        """Answered, while the request's body still comes: shut our side, discard theirs for a bounded while."""
        self.lingering = LINGER_BYTES
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()  # uvicorn pauses reading while a body it has not handed over piles up
        self.linger_deadline = self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()
        if self.cycle is not None and self.lingering is None:
            self.cycle.transport = _LingeringClose(self)  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.linger_deadline is not None:
            self.linger_deadline.cancel()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.head_deadline is None:
            self.head_deadline = self.loop.call_later(self.head_timeout, self._too_slow)

    def _disarm(self) -> None:
        self.head_bytes = 0
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _too_slow(self) -> None:
        self.head_deadline = None
        if not self.transport.is_closing():
            self.transport.write(TIMEOUT_RESPONSE)
            self.transport.close()


def head_deadline_protocol(head_timeout: float) -> type[HeadDeadlineProtocol]:
    """uvicorn's `http` option: the protocol class, with this deadline."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout": head_timeout})
