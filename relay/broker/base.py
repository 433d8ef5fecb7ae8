"""The broker: four roles (event log, job queue, signals, document updates), two implementations (memory, Redis).

Both implementations pass one contract suite (`tests/test_broker.py`). Consumers
are typed against the role they use: the fan-out and a generation against
`EventLog`, the chat service against all three separately, the worker loop
against `Broker` (it uses every role).
"""

from __future__ import annotations

import abc

from .documents import DocumentBus
from .jobs import JobQueue
from .log import EventLog
from .presence import PresenceStore
from .signals import Signals


class BrokerUnavailable(Exception):
    """The broker cannot be reached right now."""


class Broker(EventLog, JobQueue, Signals, DocumentBus):
    """One connection serving every role; `presence` is the presence part, kept beside them."""

    presence: PresenceStore

    async def start(self) -> None:
        """Connect; called once before use."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the broker answers now."""
