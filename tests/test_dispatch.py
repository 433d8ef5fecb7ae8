"""A worker is ready before its first job: the SQL a generation's start and end use is opened at start."""

from __future__ import annotations

import asyncio

from workers.runner import sql_turns

from .system import Backend, System


async def test_a_worker_opens_its_sql_connections_before_its_first_job(backend: Backend) -> None:
    async with System(backend) as system:
        worker = system.workers[0][0]
        pool = worker.db.kw["bind"].pool
        for _ in range(200):  # the worker warms up as it starts; no job was posted
            if pool.checkedin() >= sql_turns(worker.settings.worker_concurrency):
                break
            await asyncio.sleep(0.05)
        assert pool.checkedin() >= sql_turns(worker.settings.worker_concurrency)


def test_a_workers_sql_turns_follow_its_concurrency() -> None:
    assert [sql_turns(n) for n in (1, 16, 64, 65, 256)] == [2, 2, 2, 3, 8]


async def test_a_burst_of_waiting_posts_larger_than_the_gateways_sql_pool_is_served(backend: Backend) -> None:
    """Each `?wait=true` post holds its request open until its answer ends; SQL connections are taken in turn."""
    async with System(backend, sql_connections=2) as system:
        users = [f"user{k}" for k in range(12)]
        sessions = [await system.new_session(user=user) for user in users]
        answers = await asyncio.gather(*(system.ask(s, "hi", user=u) for s, u in zip(sessions, users, strict=True)))
    assert {answer["status"] for answer in answers} == {"success"}
