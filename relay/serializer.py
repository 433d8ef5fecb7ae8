"""Phoenix Channels frames ⇄ messages: V2 (JSON arrays) and V1 (JSON objects)."""

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
    payload: dict[str, Any]


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


class V2Serializer:
    """`[join_ref, ref, topic, event, payload]` — what phoenix.js speaks by default."""

    vsn = "2.0.0"

    @staticmethod
    def decode(text: str | bytes) -> Message:
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


class V1Serializer:
    """`{topic, event, payload, ref}` objects — the older wire format."""

    vsn = "1.0.0"

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
    Server-Sent Events in `relay.event_stream`. Frames are the bytes written to the client."""

    def encode(self, join_ref: str | None, ref: str | None, topic: str, event: str, payload: Any) -> bytes: ...

    def encode_event(self, topic: str, envelope: Envelope) -> bytes:
        """A broadcast event; encoded once per event and wire format, shared by every client."""
        ...


SERIALIZERS: dict[str, Serializer] = {"2.0.0": V2Serializer(), "1.0.0": V1Serializer()}


def reply(
    serializer: Serializer, message: Message, status: str, response: dict[str, Any] | None = None
) -> bytes:
    return serializer.encode(
        message.join_ref, message.ref, message.topic, "phx_reply", {"status": status, "response": response or {}}
    )
