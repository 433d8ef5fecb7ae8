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
from .limits import Limits
from .log import EventLog
from .presence import PresenceStore
from .signals import Signals


class BrokerUnavailable(Exception):
    """The broker cannot be reached right now."""


OUT_OF_MEMORY = "The service is out of memory for new work; try again shortly."


class BrokerFull(BrokerUnavailable):
    """The broker refused a write: Redis reached its `maxmemory` (it frees memory as quiet sessions expire)."""


class Broker(EventLog, JobQueue, Signals, DocumentBus):
    """One connection serving every role; `presence` and `limits` are parts of their own, kept beside them."""

    presence: PresenceStore
    limits: Limits

    async def start(self) -> None:
        """Connect; called once before use."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the broker answers now."""
