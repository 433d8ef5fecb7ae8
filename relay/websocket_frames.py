"""WebSocket frames for `relay.websocket`: Phoenix messages as whole frames, and the sans-I/O protocol."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol
from websockets.server import ServerProtocol

from schema.events import Envelope

from .serializer import SERIALIZERS, Message


class WebSocketFrames:
    """A Phoenix serializer whose frames come out as whole WebSocket text frames.

    Server frames are not masked, so one event's frame is the same bytes for
    every socket: `Delivery` builds it once and each socket writes it as is.
    """

    __slots__ = ("binary", "phoenix", "vsn")

    def __init__(self, phoenix: Any) -> None:
        self.phoenix = phoenix
        self.vsn: str = phoenix.vsn
        self.binary: bool = phoenix.binary

    def decode(self, data: bytes) -> Message:
        return self.phoenix.decode(data)  # type: ignore[no-any-return]

    def encode(self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> bytes:
        return _text_frame(self.phoenix.encode(join_ref, ref, topic, event, payload))

    def encode_event(self, topic: str, envelope: Envelope) -> bytes:
        return _text_frame(self.phoenix.encode_event(topic, envelope))

    def encode_binary_push(self, join_ref: str | None, topic: str, event: str, payload: bytes) -> bytes:
        return _binary_frame(self.phoenix.encode_binary_push(join_ref, topic, event, payload))

    def encode_binary_reply(
        self, join_ref: str | None, ref: str | None, topic: str, status: str, payload: bytes
    ) -> bytes:
        return _binary_frame(self.phoenix.encode_binary_reply(join_ref, ref, topic, status, payload))

    def encode_binary_broadcast(self, topic: str, event: str, payload: bytes) -> bytes:
        return _binary_frame(self.phoenix.encode_binary_broadcast(topic, event, payload))


def _text_frame(payload: bytes) -> bytes:
    return Frame(Opcode.TEXT, payload).serialize(mask=False)


def _binary_frame(payload: bytes) -> bytes:
    return Frame(Opcode.BINARY, payload).serialize(mask=False)


FORMATS: dict[str, WebSocketFrames] = {vsn: WebSocketFrames(serializer) for vsn, serializer in SERIALIZERS.items()}


class UpgradedProtocol(ServerProtocol):
    """websockets' server side of a connection whose upgrade request uvicorn parsed already.

    `ServerProtocol` would parse the request head again from bytes uvicorn serialises
    for it (~7 % of the gateway's CPU in a reconnect storm); this one reads frames
    from the first byte, and the request comes to `accept` as uvicorn parsed it.
    """

    def parse(self) -> Generator[None]:
        yield from Protocol.parse(self)
