"""A worker is ready before its first job: the SQL a generation's start and end use is opened at start."""

from __future__ import annotations

import asyncio

from workers.runner import SQL_TURNS

from .system import Backend, System


async def test_a_worker_opens_its_sql_connections_before_its_first_job(backend: Backend) -> None:
    async with System(backend) as system:
        worker = system.workers[0][0]
        pool = worker.db.kw["bind"].pool
        for _ in range(200):  # the worker warms up as it starts; no job was posted
            if pool.checkedin() >= SQL_TURNS:
                break
            await asyncio.sleep(0.05)
        assert pool.checkedin() >= SQL_TURNS
