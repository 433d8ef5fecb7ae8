"""A session's position on Redis in one round trip (`position.lua`): what a joining tab and a snapshot read.

The script's calls go through a `ScriptBatcher`, so that the joins of a
reconnect storm share pipelines instead of each taking a pooled connection
and paying redis-py's per-command work.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from schema import events, keys

from .fencing import FIRST_LEASE
from .log import Position, Snapshot, Streaming, decode_changes

SCRIPT = (Path(__file__).with_name("position.lua")).read_text()
REPLAYED = b"r"
START_CODE = events.EVENT_CODES.index(events.MESSAGE_PROCESSING)


def script_args(
    session_id: str, since: tuple[str, int] | None, new_epoch: str, ttl_seconds: int, attachment: bool
) -> list[Any]:
    since_epoch, since_seq = since if since is not None else ("", 0)
    return [
        5, *keys.session_keys(session_id), keys.attachment_key(session_id),
        since_epoch, since_seq, new_epoch, ttl_seconds, "1" if attachment else "0", START_CODE,
    ]  # fmt: skip


def decode_reply(reply: list[Any]) -> Position:
    epoch, seq, attachment_seq, attachment, mode, *rest = reply
    epoch = epoch.decode() if epoch is not None else ""
    if mode == REPLAYED:
        replayed = [
            events.envelope(entry, message_id.decode(), int(entry_id.split(b"-", 1)[0]), epoch)
            for entry_id, entry, message_id in zip(rest[0::3], rest[1::3], rest[2::3], strict=True)
        ]
        return Position(Snapshot(epoch, seq, None, attachment_seq), replayed, attachment)
    message_id, status, content, changes, lease = rest
    streaming = None
    if message_id is not None:
        streaming = Streaming(
            message_id.decode(),
            (content or b"").decode(errors="replace"),
            (status or b"").decode(),
            *decode_changes(changes or b""),
            lease=int(lease or FIRST_LEASE),
        )
    return Position(Snapshot(epoch, seq, streaming, attachment_seq), None, attachment)
