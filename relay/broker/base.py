"""The broker: a small container of roles, each its own interface with a memory and a Redis implementation.

The roles: `event_log` (a session's events, live and replayable), `jobs` (the generation queue),
`grants` (exactly-once change grants), `topics` (announcements such as stop requests and settings
changes), `documents` (hosted documents' updates), `presence` and `limits`. Each passes its own
contract suite (`tests/test_event_log.py`, `tests/test_job_queue.py`, …) on both implementations.
Consumers are typed against the roles they use: the fan-out and a generation get the `EventLog`,
the chat service the event log, the job queue and the topic bus; only the wiring sees the `Broker`.
"""

from __future__ import annotations

import abc

from .documents import DocumentBus
from .grant_store import Grants
from .jobs import JobQueue
from .limits import Limits
from .log import EventLog
from .presence import PresenceStore
from .topic_bus import TopicBus


class BrokerUnavailable(Exception):
    """The broker cannot be reached right now."""


OUT_OF_MEMORY = "The service is out of memory for new work; try again shortly."


class BrokerFull(BrokerUnavailable):
    """The broker refused a write: Redis reached its `maxmemory` (it frees memory as quiet sessions expire)."""


class Broker(abc.ABC):
    """The roles over one connection, and their lifecycle."""

    event_log: EventLog
    jobs: JobQueue
    grants: Grants
    topics: TopicBus
    documents: DocumentBus
    presence: PresenceStore
    limits: Limits

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect; called once before use."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the broker answers now."""
