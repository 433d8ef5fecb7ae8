"""A read deadline that moves on every read without rescheduling a timer.

`asyncio.timeout()` arms and cancels a timer per read, and an upstream stream is read
once per event. `Deadline` keeps at most one timer per stream: when it fires, a read
in progress past the current deadline is cancelled; otherwise it sleeps again until
the deadline, or until the next read starts.
"""

from __future__ import annotations

import asyncio


class Deadline:
    """Cancels the current task when one read runs past its deadline; see `reading`."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()
        self._when = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._reading = False
        self._expired = False

    def reading(self, until: float) -> None:
        """A read starts, to end by `until` (loop time); call `done` when it returns or raises."""
        self._when, self._reading = until, True
        if self._timer is None or self._timer_at > until:
            self._arm(until)

    def done(self) -> None:
        self._reading = False

    def expired(self) -> bool:
        """After a `CancelledError` from the read: True if the deadline caused it (and only it)."""
        return self._expired and self._task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, when: float) -> None:
        self.close()
        self._timer, self._timer_at = self._loop.call_at(when, self._fire), when

    def _fire(self) -> None:
        self._timer = None
        if not self._reading:
            return  # the next read arms it again
        if self._loop.time() < self._when:
            self._arm(self._when)
            return
        self._expired = True
        self._task.cancel()
