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


# A log entry is compact (docs/protocol.md, "What Redis keeps"): one byte naming the event (its index here), the
# timestamp (a msgpack float64, 9 bytes) and the payload (msgpack). The envelope's other fields are the
# same for many entries (message id, epoch) or implied by the entry's place in the log (seq): the broker
# adds them back when it publishes or replays the entry (publish.lua builds the envelope as `envelope` does).
EVENT_CODES = (
    USER_MESSAGE, MESSAGE_PROCESSING, STREAMING_STATUS, STREAMING_CHANGES, STREAMING_CHUNK, STREAMING_ERROR,
    STREAMING_TOOL, NEW_MESSAGE, SESSION_UPDATED, SESSION_DELETED, CHANGES_APPLIED, MESSAGES_DELETED,
)  # fmt: skip; append only: stored entries name their events by these indexes
_CODE_OF = {event: code for code, event in enumerate(EVENT_CODES)}
TS_BYTES = 9


def encode_entry(event: str, ts: float, payload: dict[str, Any]) -> bytes:
    """The log's compact form of an event."""
    if event not in EVENTS:
        raise EnvelopeError(f"unknown event {event!r}")
    return bytes((_CODE_OF[event],)) + msgpack.packb(float(ts)) + msgpack.packb(payload)


def entry_event(entry: bytes) -> str:
    return EVENT_CODES[entry[0]]


def envelope(entry: bytes, message_id: str, seq: int, epoch: str) -> bytes:
    """The whole envelope of a log entry, given what the entry leaves out."""
    packer = msgpack.Packer()
    return b"".join(
        (
            packer.pack_map_header(7),
            packer.pack("v"),
            packer.pack(ENVELOPE_VERSION),
            packer.pack("event"),
            packer.pack(entry_event(entry)),
            packer.pack("message_id"),
            packer.pack(message_id),
            packer.pack("ts"),
            entry[1 : 1 + TS_BYTES],
            packer.pack("payload"),
            entry[1 + TS_BYTES :],
            encode_tail(seq, epoch),
        )
    )


def encode_tail(seq: int, epoch: str) -> bytes:
    return msgpack.packb("seq") + msgpack.packb(seq) + msgpack.packb("epoch") + msgpack.packb(epoch)


def encode(event: Envelope) -> bytes:
    return envelope(encode_entry(event.event, event.ts, event.payload), event.message_id, event.seq, event.epoch)


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


def change_id(message_id: str, changes: dict[str, Any]) -> str:
    """The id of a change set proposed by message `message_id`, equal across processes.

    A change belongs to its message: the same change proposed again by a later answer is a new change (it has
    not been applied), while an early change and the identical one in its own final message are one.
    """
    canonical = json.dumps(changes, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(f"{message_id}\n{canonical}".encode()).hexdigest()
