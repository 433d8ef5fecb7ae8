"""Writes that must land: retried with backoff while SQL is unreachable.

A generation that has its answer keeps it in memory and keeps running (so its
worker keeps the job alive and no takeover steals it) until the final write
lands or `patience` seconds have passed; any other error is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from schema.db import database_unreachable

log = logging.getLogger(__name__)

T = TypeVar("T")
FIRST_DELAY, MAX_DELAY = 0.1, 5.0


async def until_it_lands(write: Callable[[], Awaitable[T]], patience: float, what: str) -> T:
    deadline = time.monotonic() + patience
    delay = FIRST_DELAY
    while True:
        try:
            return await write()
        except Exception as exc:
            if not database_unreachable(exc) or time.monotonic() + delay > deadline:
                raise
            log.warning("%s: the database is unreachable (%s); trying again in %.1f s", what, exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)
