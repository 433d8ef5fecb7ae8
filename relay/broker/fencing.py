"""Fencing a generation's publishes: a worker that froze past its takeover must not write into an ended answer.

Each generation publishes with a lease; the event log refuses, atomically with the publish, an event whose
lease is stale or whose message has ended (publish.lua; the memory broker applies `refusal`, the same rule).
"""

from __future__ import annotations

from dataclasses import dataclass

from schema import events


class Fenced(Exception):
    """A generation's event refused: its message already ended, or a takeover holds a newer lease on it."""


class HistoryLost(Exception):
    """A generation's streamed event refused: no generation started in the session's history (Redis lost it,
    or it expired while the worker was frozen). The generation decides whether to publish its message again."""


# A generation's lease on its message: its own worker holds the first; a takeover that ends the message for a
# worker gone silent holds one more than the lease it found, so that the silent worker's publishes are refused.
FIRST_LEASE = 1



# How a generation's lease is checked (`EventLog.publish`): its message's streamed events need the message in
# flight; its start and its error need it not ended; its `new_message` is never refused (a better record may
# replace a takeover's).
FENCE_LIVE = "l"
FENCE_END = "e"
FENCE_NONE = ""


def fence_kind(event: str) -> str:
    if event in (events.STREAMING_CHUNK, events.STREAMING_STATUS, events.STREAMING_CHANGES, events.STREAMING_TOOL):
        return FENCE_LIVE
    if event in (events.MESSAGE_PROCESSING, events.STREAMING_ERROR):
        return FENCE_END
    return FENCE_NONE


@dataclass(frozen=True)
class Flight:
    """What a session's epoch knows of its generations: the message in flight and its lease, the message that
    ended last, whether any generation started in it."""

    in_flight: str | None
    held: int
    done: str | None
    started: bool


FENCED = "fenced"
LOST = "lost"


def refusal(fence: str, lease: int, message_id: str, flight: Flight) -> str | None:
    """Why a publish is refused (`FENCED`, `LOST`), or None: the rule publish.lua applies (the memory broker's
    copy of it)."""
    if lease <= 0 or fence == FENCE_NONE:
        return None
    current = flight.in_flight == message_id
    if flight.done == message_id or (current and lease < flight.held) or (
        fence == FENCE_LIVE and not current and flight.started
    ):
        return FENCED
    return LOST if fence == FENCE_LIVE and not flight.started else None
