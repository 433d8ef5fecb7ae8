"""Presence as it crosses Redis: who has a session open, per tab, never logged.

A presence diff travels on the session's topic beside its events, as a msgpack
array `["presence_diff", joins, leaves]`; events are msgpack maps, so the first
byte tells the two apart without decoding. Joins and leaves have the shape
phoenix.js `Presence` expects: `{user_id: {"metas": [{phx_ref, joined_at, name?}]}}`.
"""

from __future__ import annotations

from typing import Any

import msgpack

PRESENCE_STATE = "presence_state"
PRESENCE_DIFF = "presence_diff"
_ARRAY_OF_THREE = b"\x93"

Presences = dict[str, dict[str, list[dict[str, Any]]]]


def encode_entry(user_id: str, meta: dict[str, Any]) -> bytes:
    """One tab's record in the presence store."""
    return msgpack.packb({"user_id": user_id, "meta": meta})


def decode_entry(data: bytes) -> tuple[str, dict[str, Any]]:
    entry = msgpack.unpackb(data, raw=False)
    return entry["user_id"], entry["meta"]


def group(entries: list[bytes]) -> Presences:
    """Store records as phoenix presences: metas grouped by user."""
    presences: Presences = {}
    for data in entries:
        user_id, meta = decode_entry(data)
        presences.setdefault(user_id, {"metas": []})["metas"].append(meta)
    return presences


def encode_diff(joins: Presences, leaves: Presences) -> bytes:
    return msgpack.packb([PRESENCE_DIFF, joins, leaves])


def is_diff(data: bytes) -> bool:
    return data[:1] == _ARRAY_OF_THREE


def decode_diff(data: bytes) -> dict[str, Presences]:
    """`{"joins", "leaves"}`; raises ValueError for anything else."""
    try:
        name, joins, leaves = msgpack.unpackb(data, raw=False)
    except Exception as exc:
        raise ValueError(f"not a presence diff: {exc}") from None
    if name != PRESENCE_DIFF or not isinstance(joins, dict) or not isinstance(leaves, dict):
        raise ValueError("not a presence diff")
    return {"joins": joins, "leaves": leaves}


def merge_diff(into: dict[str, Presences], diff: dict[str, Presences]) -> None:
    """Fold a later diff into an earlier one, as Phoenix's tracker batches them: phoenix.js applies a diff's
    joins before its leaves and tells tabs apart by `phx_ref`, so the merged diff leaves the same state."""
    for kind in ("joins", "leaves"):
        merged = into[kind]
        for key, presence in diff[kind].items():
            metas = merged.setdefault(key, {"metas": []})["metas"]
            metas.extend(presence.get("metas", []))
