"""Whether this worker can take one more generation now: the event loop's lag as the signal.

A worker out of CPU runs its callbacks late: every generation it already runs
streams later, and one more would make it worse. While the loop runs more than
`limit` seconds late, the worker takes no new job, so that another worker (or
this one, a moment later) takes it: overload shows as a longer wait for the
first token, never as generations failing for want of CPU.
"""

from __future__ import annotations

import asyncio


class LoopLag:
    """Probes the running loop every `interval` seconds; `ready()` waits while the lag exceeds `limit`."""

    def __init__(self, limit: float, interval: float = 0.05) -> None:
        self.limit = limit
        self.interval = interval
        self.lag = 0.0
        self._probed = asyncio.Condition()
        self._admitting = asyncio.Event()  # from the first probe on: a worker starts once its loop is measured

    @property
    def admitting(self) -> bool:
        return self._admitting.is_set()

    async def ready(self) -> None:
        await self._admitting.wait()

    async def next_probe(self) -> None:
        """Wait until the lag is measured once more."""
        async with self._probed:
            await self._probed.wait()

    async def run(self) -> None:
        """Probe until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.interval
            await asyncio.sleep(self.interval)
            self.lag = max(0.0, loop.time() - due)
            if self.lag > self.limit:
                self._admitting.clear()
            else:
                self._admitting.set()
            async with self._probed:
                self._probed.notify_all()
