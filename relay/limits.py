"""One user's limits as this gateway applies them: write and document token buckets, socket slots.

The buckets and slots live in the broker (`relay.broker.limits`), so a user
meets the same limits on every gateway. A socket's slot is kept alive for the
presence expiry past the last frame its client sent, like its tabs in presence:
a closed socket frees its slot at once, and the slots of a lost socket or of a
gateway that vanished expire within that time. While the broker is
unreachable nobody is limited: the requests that need it fail on their own.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from schema import keys

from .auth import Claims
from .broker.base import BrokerUnavailable
from .broker.limits import Limits
from .broker.log import unique_id
from .errors import rate_limited
from .settings import Settings

logger = logging.getLogger(__name__)

WRITE, DOCUMENT = "write", "document"
DOCUMENT_TOPIC_PREFIX = "doc:"  # collaborative documents' pushes have a bucket of their own, sized for typing


def bucket_of(topic: str) -> str:
    return DOCUMENT if topic.startswith(DOCUMENT_TOPIC_PREFIX) else WRITE


class UserLimits:
    def __init__(self, store: Limits, settings: Settings) -> None:
        self.store = store
        self.rates = {
            WRITE: (settings.user_requests_per_second, settings.user_burst),
            DOCUMENT: (settings.document_pushes_per_second, settings.document_burst),
        }
        self.max_sockets = settings.max_sockets_per_user
        self.ttl = settings.presence_ttl_seconds
        self.interval = settings.presence_interval_seconds
        self.sockets: dict[str, tuple[str, Callable[[], float]]] = {}  # slot -> (holder, client's last frame)
        self.closed: list[tuple[str, str]] = []  # (holder, slot) of sockets closed, to free in the broker
        self.freer: asyncio.Task[None] | None = None

    async def take(self, claims: Claims, bucket: str) -> None:
        """Take one of the user's tokens from `bucket`; `rate_limited` (429) when there is none."""
        per_second, burst = self.rates[bucket]
        try:
            wait = await self.store.take(keys.rate_key(bucket, claims.tenant, claims.user), per_second, burst)
        except BrokerUnavailable as exc:
            logger.warning("rate limits: not checked, the broker did not answer: %s", exc)
            return
        if wait > 0:
            raise rate_limited(max(1, math.ceil(wait)))

    async def open_socket(self, claims: Claims, last_heard: Callable[[], float]) -> str | None:
        """A slot for one more socket of the user's, or None when they hold `MAX_SOCKETS_PER_USER` already."""
        slot, holder = unique_id(), keys.sockets_key(claims.tenant, claims.user)
        self.sockets[slot] = (holder, last_heard)
        try:
            if await self.store.hold(holder, slot, self.max_sockets, self.ttl):
                return slot
        except BrokerUnavailable as exc:
            logger.warning("socket limit: not checked, the broker is unreachable: %s", exc)
            return slot
        self.sockets.pop(slot, None)
        return None

    def close_socket(self, slot: str) -> None:
        opened = self.sockets.pop(slot, None)
        if opened is not None:
            self.closed.append((opened[0], slot))
            if self.freer is None:  # one task frees every slot closed meanwhile, not one task each
                self.freer = asyncio.create_task(self._free_closed(), name="socket slots")

    async def _free_closed(self) -> None:
        try:
            while self.closed:
                holder, slot = self.closed.pop()
                try:
                    await self.store.free(holder, slot)
                except BrokerUnavailable as exc:
                    logger.warning("socket limit: %s stays until it expires: %s", slot, exc)
        finally:
            self.freer = None

    async def run(self) -> None:
        """Keep the slots of this gateway's sockets every `interval` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            holders: dict[str, dict[str, float]] = {}
            for slot, (holder, last_heard) in list(self.sockets.items()):
                holders.setdefault(holder, {})[slot] = self.ttl - (now - last_heard())
            try:
                if holders:
                    await self.store.keep(holders)
            except BrokerUnavailable as exc:
                logger.warning("socket limit: refresh failed, retrying in %g s: %s", self.interval, exc)
