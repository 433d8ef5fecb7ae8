"""Event names, the envelope that crosses Redis, and its msgpack codec."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import msgpack

ENVELOPE_VERSION = 1

USER_MESSAGE = "user_message"
MESSAGE_PROCESSING = "message_processing"
STREAMING_STATUS = "streaming_status"
STREAMING_CHANGES = "streaming_changes"
STREAMING_CHUNK = "streaming_chunk"
STREAMING_ERROR = "streaming_error"
STREAMING_TOOL = "streaming_tool"
NEW_MESSAGE = "new_message"
SESSION_UPDATED = "session_updated"
SESSION_DELETED = "session_deleted"
CHANGES_APPLIED = "changes_applied"
MESSAGES_DELETED = "messages_deleted"

EVENTS = frozenset(
    {
        USER_MESSAGE,
        MESSAGE_PROCESSING,
        STREAMING_STATUS,
        STREAMING_CHANGES,
        STREAMING_CHUNK,
        STREAMING_ERROR,
        STREAMING_TOOL,
        NEW_MESSAGE,
        SESSION_UPDATED,
        SESSION_DELETED,
        CHANGES_APPLIED,
        MESSAGES_DELETED,
    }
)

# Events that follow a change of the session's row or of its stored messages (a join reply's page):
# publishing one makes every cached join page of the session stale (relay/join_page.py).
# CHANGES_APPLIED (a claim granted) changes the stored messages' `applied` flags; MESSAGES_DELETED (regenerate,
# edit and resend) removes stored messages.
PAGE_EVENTS = frozenset(
    {USER_MESSAGE, NEW_MESSAGE, SESSION_UPDATED, SESSION_DELETED, CHANGES_APPLIED, MESSAGES_DELETED}
)

MAX_ENVELOPE_BYTES = 4 * 1024 * 1024


class EnvelopeError(ValueError):
    """Bytes that are not a valid envelope."""


@dataclass(frozen=True, slots=True)
class Envelope:
    event: str
    seq: int
    epoch: str
    message_id: str
    ts: float
    payload: dict[str, Any] = field(default_factory=dict)

    def push_payload(self) -> dict[str, Any]:
        """The payload clients see: the event's own fields plus seq and message_id."""
        return {**self.payload, "seq": self.seq, "message_id": self.message_id}


def encode_head(event: str, message_id: str, ts: float, payload: dict[str, Any]) -> bytes:
    """Encode an envelope without `seq` and `epoch`.

    The broker appends those two (they are assigned atomically where the event
    is stored), so the head announces a map of 7 entries but holds 5.
    """
    if event not in EVENTS:
        raise EnvelopeError(f"unknown event {event!r}")
    packer = msgpack.Packer()
    return b"".join(
        (
            packer.pack_map_header(7),
            packer.pack("v"),
            packer.pack(ENVELOPE_VERSION),
            packer.pack("event"),
            packer.pack(event),
            packer.pack("message_id"),
            packer.pack(message_id),
            packer.pack("ts"),
            packer.pack(ts),
            packer.pack("payload"),
            packer.pack(payload),
        )
    )


def encode_tail(seq: int, epoch: str) -> bytes:
    return msgpack.packb("seq") + msgpack.packb(seq) + msgpack.packb("epoch") + msgpack.packb(epoch)


def encode(envelope: Envelope) -> bytes:
    head = encode_head(envelope.event, envelope.message_id, envelope.ts, envelope.payload)
    return head + encode_tail(envelope.seq, envelope.epoch)


_FIELDS: dict[str, type | tuple[type, ...]] = {
    "v": int,
    "event": str,
    "seq": int,
    "epoch": str,
    "message_id": str,
    "ts": (float, int),
    "payload": dict,
}


def decode(data: bytes) -> Envelope:
    """Decode and validate; anything malformed raises `EnvelopeError`."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"envelope of {len(data)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:
        raise EnvelopeError(f"not msgpack: {exc}") from None
    if not isinstance(raw, dict):
        raise EnvelopeError("envelope is not a map")
    for name, kind in _FIELDS.items():
        if name not in raw:
            raise EnvelopeError(f"envelope lacks {name!r}")
        value = raw[name]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise EnvelopeError(f"envelope field {name!r} has the wrong type")
    if raw["v"] != ENVELOPE_VERSION:
        raise EnvelopeError(f"unsupported envelope version {raw['v']}")
    if raw["event"] not in EVENTS:
        raise EnvelopeError(f"unknown event {raw['event']!r}")
    if raw["seq"] < 1:
        raise EnvelopeError("seq must be positive")
    return Envelope(
        event=raw["event"],
        seq=raw["seq"],
        epoch=raw["epoch"],
        message_id=raw["message_id"],
        ts=float(raw["ts"]),
        payload=raw["payload"],
    )


def change_id(changes: dict[str, Any]) -> str:
    """Content address of a change set: equal changes, equal id, across processes."""
    canonical = json.dumps(changes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
