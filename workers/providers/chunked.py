"""A chunked HTTP/1.1 response body read straight off its connection, for the streamed answers.

httpx's stream passes every read through four generator layers and h11's state machine (two
`next_event` calls, a regex and a context manager per chunk): most of the worker's cost of reading
a streamed chunk. Here the chunked framing is parsed from the connection's reads directly, each
read's whole chunks given on as one piece. h11 still parses the body's end (the last chunk and its
trailers), so that its state is done and httpcore returns the connection to its pool as before. A
body in any other shape (HTTP/2, a length, until close, or a state h11 has begun) is read by httpx.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import h11
import httpcore
import httpx
from httpcore._async.http11 import AsyncHTTP11Connection, HTTP11ConnectionByteStream
from httpx._client import BoundAsyncStream
from httpx._transports.default import AsyncResponseStream

CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,20})(?:;.*)?[ \t]*")  # h11's chunk header (extensions ignored)


def connection_of(response: httpx.Response) -> AsyncHTTP11Connection | None:
    """The HTTP/1.1 connection a streamed response's chunked body is read from, when it can be read here."""
    if response.headers.get("transfer-encoding", "").strip().lower() != "chunked":
        return None
    stream: Any = response.stream
    for kind, inner in ((BoundAsyncStream, "_stream"), (AsyncResponseStream, "_httpcore_stream")):
        stream = getattr(stream, inner, None) if type(stream) is kind else None
    stream = getattr(stream, "_stream", None)  # inside httpcore's pool stream
    if type(stream) is not HTTP11ConnectionByteStream:
        return None
    connection = stream._connection
    reader = getattr(connection._h11_state, "_reader", None)
    if not (
        isinstance(connection, AsyncHTTP11Connection)
        and connection._h11_state.their_state is h11.SEND_BODY
        and type(reader).__name__ == "ChunkedReader"
        and reader._bytes_in_chunk == 0
        and reader._bytes_to_discard == b""
        and not reader._reading_trailer
    ):  # fmt: skip
        return None
    return connection


async def chunked_body(connection: AsyncHTTP11Connection) -> AsyncIterator[bytes]:
    """The body's data as it arrives; raises `httpx.RemoteProtocolError` on bad framing or an early end (after
    the data before it, as h11 does), `httpx.ReadError` when the connection fails."""
    state = connection._h11_state
    buffer, _ = state.trailing_data  # what came with the headers
    state._receive_buffer = type(state._receive_buffer)()
    network, limit = connection._network_stream, connection.MAX_INCOMPLETE_EVENT_SIZE
    pending = 0  # bytes of the current chunk's data still to come
    footer = False  # the CRLF after a chunk's data is due
    while True:
        pieces = []
        pos = 0
        error = None
        while True:
            if pending:
                piece = buffer[pos : pos + pending]
                pieces.append(piece)
                pos += len(piece)
                pending -= len(piece)
                if pending:
                    break
                footer = True
            if footer:
                if len(buffer) - pos < 2:
                    break
                if buffer[pos : pos + 2] != b"\r\n":
                    error = f"malformed chunk footer: {buffer[pos : pos + 2]!r}"
                    break
                pos += 2
                footer = False
            end = buffer.find(b"\r\n", pos)
            if end < 0:
                if len(buffer) - pos > limit:
                    error = "chunk header too long"
                break
            match = CHUNK_SIZE.fullmatch(buffer, pos, end)
            if match is None:
                error = f"illegal chunk header: {buffer[pos:end][:100]!r}"
                break
            pending = int(match[1], 16)
            if pending == 0:
                if pieces:
                    yield b"".join(pieces)
                await _end(connection, buffer[pos:])
                return
            pos = end + 2
        if pieces:
            yield b"".join(pieces)
        if error is not None:
            raise httpx.RemoteProtocolError(error)
        buffer = buffer[pos:]
        try:
            data = await network.read(connection.READ_NUM_BYTES)
        except httpcore.ReadError as exc:
            raise httpx.ReadError(str(exc)) from exc
        if not data:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body (incomplete chunked read)"
            )
        buffer += data


async def _end(connection: AsyncHTTP11Connection, rest: bytes) -> None:
    """The last chunk and its trailers, through h11: then its state is done (the connection reusable)."""
    state, network = connection._h11_state, connection._network_stream
    state.receive_data(rest)
    while True:
        try:
            event = state.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc)) from exc
        if isinstance(event, h11.EndOfMessage):
            return
        if event is not h11.NEED_DATA:
            raise httpx.RemoteProtocolError(f"unexpected {type(event).__name__} after the last chunk")
        try:
            data = await network.read(connection.READ_NUM_BYTES)
        except httpcore.ReadError as exc:
            raise httpx.ReadError(str(exc)) from exc
        state.receive_data(data)
