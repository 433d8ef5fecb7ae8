"""One timer for a task's repeated waits, each with its own deadline, instead of one timer per wait.

`asyncio.timeout_at` around every wait schedules and cancels a timer (a heap push and
a handle) each time: for a worker's upstream reads (first-byte and idle deadlines) and
its publish batches to Redis, one per streamed chunk. Here a wait only records its
deadline; the one timer fires at the earliest deadline it was armed for and, if the
wait in progress has more time by then, re-arms itself for it — with waits of a few
milliseconds and limits of seconds, rarely.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Silence:
    """Cancels the waiting task once a wait outlasts its deadline; `expired()` tells why.

    Between waits (a consumer handling what a read returned, say) no deadline runs: a slow
    consumer never counts as the upstream's silence. Use as a context manager in the task
    that waits.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task = asyncio.current_task()
        self.deadline: float | None = None  # of the wait in progress; None between waits
        self.timer: asyncio.TimerHandle | None = None
        self.cancelling: int | None = None  # the task's pending cancellations when this cancelled it

    def waiting_until(self, deadline: float | None) -> None:
        """A wait starts that must end by `deadline` (loop time), or None: the wait ended."""
        self.deadline = deadline
        if deadline is not None and (self.timer is None or self.timer.when() > deadline):
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.loop.call_at(deadline, self._due)

    def expired(self) -> bool:
        """Whether the CancelledError being handled is this deadline's, and not also a cancellation of the task."""
        if self.cancelling is None or self.task is None:
            return False
        cancelling, self.cancelling = self.cancelling, None  # the next wait may expire too
        return self.task.uncancel() <= cancelling

    def _due(self) -> None:
        self.timer = None
        if self.deadline is None or self.task is None or self.cancelling is not None:
            return  # between waits: the next wait arms the timer again
        if self.loop.time() < self.deadline:
            self.timer = self.loop.call_at(self.deadline, self._due)
            return
        self.cancelling = self.task.cancelling()
        self.task.cancel()

    def __enter__(self) -> Silence:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
