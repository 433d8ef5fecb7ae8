"""A minimal WebSocket client as an asyncio protocol: handshake, framing, ping/pong.

The load generator must cost far less per frame than the servers it measures,
so it parses server frames itself (no compression offered, no per-frame task,
no per-frame await) and hands each text message to `on_text` synchronously.
"""

from __future__ import annotations

import asyncio
import base64
import os

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def _mask(data: bytes, key: bytes) -> bytes:
    size = len(data)
    if not size:
        return data
    stream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")


def encode_frame(opcode: int, payload: bytes) -> bytes:
    """A masked, final client frame."""
    size = len(payload)
    if size < 126:
        header = bytes((0x80 | opcode, 0x80 | size))
    elif size < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + size.to_bytes(8, "big")
    key = os.urandom(4)
    return header + key + _mask(payload, key)


class WebSocketClient(asyncio.Protocol):
    """Subclasses implement `on_open`, `on_text` and `on_closed`."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.fragments: list[bytes] = []
        self.close_code: int | None = None
        self.failure: str | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's transports are not subclasses
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[: buffer.find(b"\r\n")])
            del buffer[: end + 4]
            if not status.startswith(b"HTTP/1.1 101"):
                self.fail(f"upgrade refused: {status.decode(errors='replace')}")
                return
            self.upgraded = True
            self.on_open()
        self._frames()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.on_closed(self.close_code)

    # frames

    def _frames(self) -> None:
        buffer, pos, end = self.buffer, 0, len(self.buffer)
        while end - pos >= 2:
            first, size = buffer[pos], buffer[pos + 1] & 0x7F
            start = pos + 2
            if size == 126:
                if end - pos < 4:
                    break
                size, start = int.from_bytes(buffer[pos + 2 : pos + 4], "big"), pos + 4
            elif size == 127:
                if end - pos < 10:
                    break
                size, start = int.from_bytes(buffer[pos + 2 : pos + 10], "big"), pos + 10
            if end - start < size:
                break
            payload = bytes(buffer[start : start + size])
            pos = start + size
            self._frame(first & 0x80, first & 0x0F, payload)
        del buffer[:pos]

    def _frame(self, fin: int, opcode: int, payload: bytes) -> None:
        if opcode in (TEXT, BINARY, CONTINUATION):
            if not fin:
                self.fragments.append(payload)
                return
            if self.fragments:
                payload, self.fragments = b"".join((*self.fragments, payload)), []
            self.on_text(payload)
        elif opcode == PING:
            self.send(PONG, payload)
        elif opcode == CLOSE:
            self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self.send(CLOSE, payload[:2])
            if self.transport is not None:
                self.transport.close()

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode_frame(opcode, payload))

    def send_text(self, text: str | bytes) -> None:
        self.send(TEXT, text.encode() if isinstance(text, str) else text)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.send(CLOSE, (1000).to_bytes(2, "big"))
            self.transport.close()

    def fail(self, reason: str) -> None:
        self.failure = self.failure or reason
        if self.transport is not None:
            self.transport.close()

    # for subclasses

    def on_open(self) -> None: ...

    def on_text(self, data: bytes) -> None: ...

    def on_closed(self, code: int | None) -> None: ...
