"""One timer for repeated waits with deadlines (`relay.broker.silence`): upstream reads, publish batches."""

from __future__ import annotations

import asyncio

import pytest

from relay.broker.silence import Silence

# A read's limit where the read ends in 0.01 s: far enough that a loaded machine (parallel test workers) delaying
# the event loop cannot make the read's end and its deadline fall due in one loop iteration, which cancels it.
LIMIT = 0.2


async def read_with(silence: Silence, deadline: float, read: asyncio.Future[None]) -> str:
    silence.waiting_until(deadline)
    try:
        await read
    except asyncio.CancelledError:
        if silence.expired():
            return "expired"
        raise
    silence.waiting_until(None)
    return "read"


async def test_a_read_past_its_deadline_is_cancelled_and_reported_as_expired():
    loop = asyncio.get_running_loop()
    with Silence(loop) as silence:
        assert await read_with(silence, loop.time() + 0.05, loop.create_future()) == "expired"
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_reads_that_keep_ending_in_time_outlive_the_first_deadline():
    loop = asyncio.get_running_loop()
    began = loop.time()
    with Silence(loop) as silence:
        while loop.time() - began < 3 * LIMIT:  # three times the limit in all, never near it on one read
            read = loop.create_future()
            loop.call_later(0.01, read.set_result, None)
            assert await read_with(silence, loop.time() + LIMIT, read) == "read"


async def test_no_deadline_runs_between_reads():
    loop = asyncio.get_running_loop()
    with Silence(loop) as silence:
        done = loop.create_future()
        done.set_result(None)
        assert await read_with(silence, loop.time() + LIMIT, done) == "read"
        await asyncio.sleep(3 * LIMIT)  # the consumer takes three deadlines' time
        later = loop.create_future()
        loop.call_later(0.01, later.set_result, None)
        assert await read_with(silence, loop.time() + LIMIT, later) == "read"


async def test_an_earlier_deadline_moves_the_timer_earlier():
    loop = asyncio.get_running_loop()
    with Silence(loop) as silence:
        silence.waiting_until(loop.time() + 60)
        silence.waiting_until(None)
        began = loop.time()
        assert await read_with(silence, loop.time() + 0.05, loop.create_future()) == "expired"
        assert loop.time() - began < 5


async def test_a_cancellation_of_the_task_at_the_deadline_stays_a_cancellation():
    loop = asyncio.get_running_loop()

    async def reader() -> str:
        with Silence(loop) as silence:
            return await read_with(silence, loop.time() + 0.05, loop.create_future())

    task = asyncio.create_task(reader())
    await asyncio.sleep(0.05)  # the deadline and the user's stop in the same moment
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_leaving_cancels_the_timer_so_the_task_outlives_the_deadline():
    loop = asyncio.get_running_loop()
    with Silence(loop) as silence:
        silence.waiting_until(loop.time() + 0.05)
        timer = silence.timer
    assert timer is not None and timer.cancelled() and silence.timer is None
    past_the_deadline = loop.create_future()
    loop.call_at(timer.when() + 0.05, past_the_deadline.set_result, None)
    await past_the_deadline  # raises CancelledError if the timer still fired
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_wait_after_an_expired_one_can_expire_too():
    loop = asyncio.get_running_loop()
    with Silence(loop) as silence:
        for _ in range(2):
            assert await read_with(silence, loop.time() + 0.05, loop.create_future()) == "expired"
