"""A worker takes a job only while it can serve it: its event loop's lag is the signal."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from schema.models import SUCCESS
from workers.admission import LoopLag

from .system import Backend, System


async def _probes(lag: LoopLag, count: int) -> None:
    for _ in range(count):
        await lag.next_probe()


async def test_no_admission_while_the_loop_runs_late_and_again_once_it_catches_up() -> None:
    lag = LoopLag(limit=0.05, interval=0.01)
    probing = asyncio.create_task(lag.run())
    loop = asyncio.get_running_loop()
    hogging = True

    def hog() -> None:  # holds the loop 0.1 s at a time, as a worker out of CPU does
        time.sleep(0.1)
        if hogging:
            loop.call_soon(hog)

    try:
        await _probes(lag, 1)
        assert lag.admitting
        loop.call_soon(hog)
        await _probes(lag, 2)
        assert not lag.admitting
        waiting = asyncio.create_task(lag.ready())
        await _probes(lag, 1)
        assert not waiting.done()
        hogging = False
        await asyncio.wait_for(waiting, 10)
        assert lag.admitting
    finally:
        hogging = False
        probing.cancel()


async def test_a_worker_out_of_cpu_leaves_the_job_to_a_worker_that_can_serve_it(backend: Backend) -> None:
    # The first worker counts any lag as too much (a limit below zero): it never can serve a job.
    async with System(backend, worker_max_loop_lag=-1.0) as system:
        busy = system.workers[0][0]
        started: dict[str, int] = {"busy": 0, "free": 0}

        def counting(name: str, provider_for: Any) -> Any:
            def provider(tenant_settings: dict[str, Any]) -> Any:
                started[name] += 1
                return provider_for(tenant_settings)

            return provider

        busy.provider_for = counting("busy", busy.provider_for)
        free = await system.start_worker(worker_max_loop_lag=1.0)
        free.provider_for = counting("free", free.provider_for)
        sessions = [await system.new_session() for _ in range(6)]
        answers = await asyncio.gather(*(system.ask(session_id, "hello") for session_id in sessions))
    assert [answer["status"] for answer in answers] == [SUCCESS] * 6
    assert started == {"busy": 0, "free": 6}
