"""The workers' one translation of broker unavailability: retry for a while, then give up in a sentence.

A generation rides out a broker restart (the upstream waits meanwhile); past
`BROKER_PATIENCE_SECONDS` it ends `interrupted` with `BROKER_LOST`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from relay.broker.base import BrokerUnavailable

log = logging.getLogger(__name__)

BROKER_PATIENCE_SECONDS = 30.0
BROKER_LOST = (
    f"The message broker was unreachable for {BROKER_PATIENCE_SECONDS:g} seconds, so the response was abandoned."
)
FIRST_DELAY, MAX_DELAY = 0.1, 2.0

T = TypeVar("T")


async def patiently(what: str, call: Callable[[], Awaitable[T]]) -> T:
    """`call()`, retried with backoff while the broker is unavailable; raises `BrokerUnavailable` past patience."""
    delay, waited = FIRST_DELAY, 0.0
    while True:
        try:
            return await call()
        except BrokerUnavailable:
            if waited >= BROKER_PATIENCE_SECONDS:
                raise
            log.warning("broker unavailable; retrying to %s", what)
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, MAX_DELAY)
