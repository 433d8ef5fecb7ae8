"""One timer per upstream stream for its first-byte and idle deadlines, instead of one per read.

`asyncio.timeout_at` around every read schedules and cancels a timer (a heap push and
a handle) for each streamed chunk. Here a read only records its deadline; the one timer
fires at the earliest deadline it was armed for and, if the read in progress has more
time by then, re-arms itself for it — with chunks arriving every few tens of
milliseconds and an idle limit of a minute, about once a minute.
"""

from __future__ import annotations

import asyncio
from types import TracebackType


class Silence:
    """Cancels the task reading the upstream once a read outlasts its deadline; `expired()` tells why.

    Between reads (while the consumer handles what was read) no deadline runs: a slow
    consumer never counts as the upstream's silence. Use as a context manager in the task
    that reads.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.task = asyncio.current_task()
        self.deadline: float | None = None  # of the read in progress; None between reads
        self.timer: asyncio.TimerHandle | None = None
        self.cancelling: int | None = None  # the task's pending cancellations when this cancelled it

    def reading_until(self, deadline: float | None) -> None:
        """A read starts that must end by `deadline` (loop time), or None: the read ended."""
        self.deadline = deadline
        if deadline is not None and (self.timer is None or self.timer.when() > deadline):
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.loop.call_at(deadline, self._due)

    def expired(self) -> bool:
        """Whether the CancelledError being handled is this deadline's, and not also a cancellation of the task."""
        if self.cancelling is None or self.task is None:
            return False
        return self.task.uncancel() <= self.cancelling

    def _due(self) -> None:
        self.timer = None
        if self.deadline is None or self.task is None or self.cancelling is not None:
            return  # between reads: the next read arms the timer again
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
