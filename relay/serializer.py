"""Phoenix Channels frames ⇄ messages: V2 (JSON arrays, and binary frames) and V1 (JSON objects).

A V2 binary frame is what phoenix.js sends for a push whose payload is an
`ArrayBuffer`: a kind byte (0 push, 1 reply, 2 broadcast), one length byte per
field, the fields (UTF-8), then the payload bytes. A client's push carries
join_ref, ref, topic and event; a server push join_ref, topic and event (no
ref); a reply join_ref, ref, topic and its status; a broadcast topic and event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from schema.events import Envelope


class FrameError(ValueError):
    """A frame that is not a valid Phoenix message; `topic` and `ref` when they could be read."""

    def __init__(self, reason: str, topic: str | None = None, ref: str | None = None, join_ref: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.topic = topic
        self.ref = ref
        self.join_ref = join_ref


@dataclass(frozen=True, slots=True)
class Message:
    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: dict[str, Any] | bytes  # bytes: the payload of a binary frame


PUSH, REPLY, BROADCAST = 0, 1, 2
MAX_FIELD_BYTES = 255  # each field's length is one byte


def _ref(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise FrameError("refs must be strings or null")


def _message(join_ref: Any, ref: Any, topic: Any, event: Any, payload: Any) -> Message:
    topic_ = topic if isinstance(topic, str) and topic else None
    try:
        ref_, join_ref_ = _ref(ref), _ref(join_ref)
    except FrameError as exc:
        raise FrameError(exc.reason, topic_) from None
    if topic_ is None:
        raise FrameError("topic must be a non-empty string", None, ref_, join_ref_)
    if not isinstance(event, str) or not event:
        raise FrameError("event must be a non-empty string", topic_, ref_, join_ref_)
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise FrameError("payload must be an object", topic_, ref_, join_ref_)
    return Message(join_ref_, ref_, topic_, event, payload)


def _parse(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"frame is not JSON: {exc}") from None


def _field(value: str | None, name: str) -> bytes:
    data = (value or "").encode()
    if len(data) > MAX_FIELD_BYTES:
        raise ValueError(f"{name} is longer than {MAX_FIELD_BYTES} bytes and cannot go in a binary frame")
    return data


def _binary(kind: int, fields: tuple[bytes, ...], payload: bytes) -> bytes:
    return b"".join((bytes((kind, *map(len, fields))), *fields, payload))


def decode_binary(data: bytes) -> Message:
    """A client's binary push: kind 0, then the lengths of join_ref, ref, topic and event."""
    if len(data) < 5 or data[0] != PUSH:
        raise FrameError("a binary frame from a client must be a push (kind 0) with four field lengths")
    end = 5 + sum(data[1:5])
    if len(data) < end:
        raise FrameError("the binary frame is shorter than its field lengths say")
    fields, offset = [], 5
    for size in data[1:5]:
        try:
            fields.append(data[offset : offset + size].decode())
        except UnicodeDecodeError:
            raise FrameError("the binary frame's fields must be UTF-8") from None
        offset += size
    join_ref, ref, topic, event = fields
    if not topic:
        raise FrameError("topic must be a non-empty string", None, ref or None, join_ref or None)
    if not event:
        raise FrameError("event must be a non-empty string", topic, ref or None, join_ref or None)
    return Message(join_ref or None, ref or None, topic, event, data[end:])


class V2Serializer:
    """`[join_ref, ref, topic, event, payload]` — what phoenix.js speaks by default — and binary frames."""

    vsn = "2.0.0"
    binary = True

    @staticmethod
    def decode(text: str | bytes) -> Message:
        # A JSON text never starts with the bytes 0-2, so the kind byte tells a binary frame apart.
        if text[:1] in (b"\x00", b"\x01", b"\x02"):
            return decode_binary(text)  # type: ignore[arg-type]
        raw = _parse(text)
        if not isinstance(raw, list) or len(raw) != 5:
            raise FrameError("frame must be an array [join_ref, ref, topic, event, payload]")
        return _message(*raw)

    @staticmethod
    def encode(join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> bytes:
        return orjson.dumps([join_ref, ref, topic, event, payload])

    @classmethod
    def encode_event(cls, topic: str, envelope: Envelope) -> bytes:
        return cls.encode(None, None, topic, envelope.event, envelope.push_payload())

    @staticmethod
    def encode_binary_push(join_ref: str | None, topic: str, event: str, payload: bytes) -> bytes:
        fields = (_field(join_ref, "join_ref"), _field(topic, "topic"), _field(event, "event"))
        return _binary(PUSH, fields, payload)

    @staticmethod
    def encode_binary_reply(join_ref: str | None, ref: str | None, topic: str, status: str, payload: bytes) -> bytes:
        fields = (_field(join_ref, "join_ref"), _field(ref, "ref"), _field(topic, "topic"), _field(status, "status"))
        return _binary(REPLY, fields, payload)

    @staticmethod
    def encode_binary_broadcast(topic: str, event: str, payload: bytes) -> bytes:
        return _binary(BROADCAST, (_field(topic, "topic"), _field(event, "event")), payload)


class V1Serializer:
    """`{topic, event, payload, ref}` objects — the older wire format."""

    vsn = "1.0.0"
    binary = False  # Phoenix's V1 serializer has no binary frames

    @staticmethod
    def decode(text: str | bytes) -> Message:
        raw = _parse(text)
        if not isinstance(raw, dict):
            raise FrameError("frame must be an object {topic, event, payload, ref}")
        return _message(raw.get("join_ref"), raw.get("ref"), raw.get("topic"), raw.get("event"), raw.get("payload"))

    @staticmethod
    def encode(join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> bytes:
        frame = {"topic": topic, "event": event, "payload": payload, "ref": ref}
        if join_ref is not None:
            frame["join_ref"] = join_ref
        return orjson.dumps(frame)

    @classmethod
    def encode_event(cls, topic: str, envelope: Envelope) -> bytes:
        return cls.encode(None, None, topic, envelope.event, envelope.push_payload())


class Serializer(Protocol):
    """A wire format: Phoenix V2 or V1 here, framed for WebSockets in `relay.websocket`,
    Server-Sent Events in `relay.sse_transport`. Frames are the bytes written to the client."""

    def encode(self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> bytes: ...

    def encode_event(self, topic: str, envelope: Envelope) -> bytes:
        """A broadcast event; encoded once per event and wire format, shared by every client."""
        ...


class BinarySerializer(Serializer, Protocol):
    """A wire format with binary frames (Phoenix V2): what a document topic needs."""

    def encode_binary_push(self, join_ref: str | None, topic: str, event: str, payload: bytes) -> bytes: ...

    def encode_binary_reply(
        self, join_ref: str | None, ref: str | None, topic: str, status: str, payload: bytes
    ) -> bytes: ...

    def encode_binary_broadcast(self, topic: str, event: str, payload: bytes) -> bytes:
        """Encoded once per broadcast, shared by every client (no join_ref)."""
        ...


SERIALIZERS: dict[str, Serializer] = {"2.0.0": V2Serializer(), "1.0.0": V1Serializer()}


def reply(
    serializer: Serializer, message: Message, status: str, response: dict[str, Any] | None = None
) -> bytes:
    return serializer.encode(
        message.join_ref, message.ref, message.topic, "phx_reply", {"status": status, "response": response or {}}
    )
