"""How the workers ride out an unreachable broker or database: retry with backoff, then give up in a sentence.

The broker: a generation rides out a restart (the upstream waits meanwhile);
past `BROKER_PATIENCE_SECONDS` it ends `interrupted` with `BROKER_LOST`.

The database: a generation that has its answer keeps it in memory and keeps
running (so its worker keeps the job alive and no takeover steals it) until the
final write lands or its patience has passed; any other error is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from relay.broker.base import BrokerFull, BrokerUnavailable
from schema.db import database_unreachable

logger = logging.getLogger(__name__)

BROKER_PATIENCE_SECONDS = 30.0
BROKER_LOST = (
    f"The message broker was unreachable for {BROKER_PATIENCE_SECONDS:g} seconds, so the response was abandoned."
)
BROKER_FULL = "The message broker ran out of memory, so the response was stopped; its text so far is kept."
BROKER_FIRST_DELAY, BROKER_MAX_DELAY = 0.1, 2.0
DATABASE_FIRST_DELAY, DATABASE_MAX_DELAY = 0.1, 5.0

T = TypeVar("T")


async def patiently(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, retried with backoff while the broker is unavailable; raises `BrokerUnavailable` past patience.

    A broker out of memory (`BrokerFull`) is not waited for: the generation ends now, its text kept in SQL.
    """
    delay, waited = BROKER_FIRST_DELAY, 0.0
    while True:
        try:
            return await call()
        except BrokerUnavailable as exc:
            if waited >= BROKER_PATIENCE_SECONDS or isinstance(exc, BrokerFull):
                raise
            logger.warning("broker unavailable; retrying to %s", what)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, BROKER_MAX_DELAY)


async def until_it_lands(write: Callable[[], Awaitable[T]], patience: float, what: str) -> T:
    """`write()`, retried with backoff while the database is unreachable, for up to `patience` seconds."""
    deadline = time.monotonic() + patience
    delay = DATABASE_FIRST_DELAY
    while True:
        try:
            return await write()
        except Exception as exc:
            if not database_unreachable(exc) or time.monotonic() + delay > deadline:
                raise
            logger.warning("%s: the database is unreachable (%s); trying again in %.1f s", what, exc, delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, DATABASE_MAX_DELAY)
