"""A worker is ready before its first job: the SQL a generation's start and end use is opened at start."""

from __future__ import annotations

import asyncio

from relay.broker.jobs import Job
from relay.broker.memory import MemoryBroker
from schema.db import create_engine, session_factory
from workers.runner import TAKE_AT_ONCE, Worker, sql_turns

from .conditions import until
from .system import SECRET, Backend, System


async def test_a_worker_opens_its_sql_connections_before_its_first_job(backend: Backend) -> None:
    async with System(backend) as system:
        worker = system.workers[0][0]
        pool = worker.db.kw["bind"].pool
        # the worker warms up as it starts; no job was posted
        await until(lambda: pool.checkedin() >= sql_turns(worker.settings.worker_concurrency))


def test_a_workers_sql_turns_follow_its_concurrency() -> None:
    assert [sql_turns(n) for n in (1, 16, 64, 65, 256)] == [2, 2, 2, 3, 8]


async def test_a_burst_of_waiting_posts_larger_than_the_gateways_sql_pool_is_served(backend: Backend) -> None:
    """Each `?wait=true` post holds its request open until its answer ends; SQL connections are taken in turn."""
    async with System(backend, sql_connections=2) as system:
        users = [f"user{k}" for k in range(12)]
        sessions = [await system.new_session(user=user) for user in users]
        answers = await asyncio.gather(*(system.ask(s, "hi", user=u) for s, u in zip(sessions, users, strict=True)))
    assert {answer["status"] for answer in answers} == {"success"}


async def test_jobs_waiting_together_are_taken_in_one_read_up_to_the_free_slots(tmp_path) -> None:
    settings = Backend("memory", None, f"sqlite+aiosqlite:///{tmp_path}/w.db").settings(
        secret=SECRET, worker_concurrency=TAKE_AT_ONCE + 2
    )
    broker = MemoryBroker()
    for k in range(TAKE_AT_ONCE + 4):
        await broker.jobs.enqueue({"session_id": f"s{k}", "message_id": f"m{k}", "user_message_id": f"q{k}"})
    engine = create_engine(settings.database_url)
    worker = Worker(settings, broker, session_factory(engine), lambda _: None)  # type: ignore[arg-type,return-value]
    started: list[list[str]] = [[]]
    read = asyncio.Event()
    take = broker.jobs.take

    async def read_and_note(consumer: str, count: int, block_seconds: float) -> list[Job]:
        jobs = await take(consumer, count, block_seconds)
        started.append([])
        read.set()
        return jobs

    broker.jobs.take = read_and_note  # type: ignore[method-assign]
    worker._start = lambda job: started[-1].append(job.fields["message_id"])  # type: ignore[method-assign]
    worker.admission._admitting.set()  # as after its first probe of the loop
    reading = asyncio.create_task(worker._take_jobs())
    await read.wait()
    # its next read: the 2 slots left, of the 4 jobs left; then it waits for a slot
    await until(lambda: sum(bool(jobs) for jobs in started) >= 2 and worker.free.locked())
    reading.cancel()
    await asyncio.gather(reading, return_exceptions=True)
    await engine.dispose()
    assert [len(jobs) for jobs in started if jobs] == [TAKE_AT_ONCE, 2]
