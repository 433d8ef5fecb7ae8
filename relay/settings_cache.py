"""Tenant settings as each gateway process reads them: at most `MAX_AGE_SECONDS` old.

Every join, post and SSE stream checks the tenant's feature flags; reading them
from SQL each time would put a query on the hottest path. A change on any
gateway is announced on `keys.SETTINGS_TOPIC` and drops the entry in every
process at once; the age bound covers an announcement lost with the broker
(after a reconnect everything is dropped too).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema.models import Tenant
from schema.tenant_settings import TenantSettings, load

MAX_AGE_SECONDS = 5.0
MAX_ENTRIES = 10_000


class SettingsCache:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        max_age: float = MAX_AGE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.max_age = max_age
        self.clock = clock
        self.entries: dict[str, tuple[float, TenantSettings]] = {}
        self.versions: dict[str, int] = {}  # bumped by invalidation: a read begun before it is not kept

    async def get(self, tenant_id: str, db: AsyncSession | None = None) -> TenantSettings:
        """`db`: the caller's open session, read through on a miss. A caller inside a transaction must pass it:
        a second connection checked out while holding one deadlocks a pool that a burst has emptied."""
        entry = self.entries.get(tenant_id)
        now = self.clock()
        if entry is not None and now - entry[0] < self.max_age:
            return entry[1]
        version = self.versions.get(tenant_id, 0)
        if db is None:
            async with self.db() as own:
                stored = await own.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
        else:
            stored = await db.scalar(select(Tenant.settings).where(Tenant.id == tenant_id))
        settings = load(stored)
        if self.versions.get(tenant_id, 0) == version:
            if len(self.entries) >= MAX_ENTRIES:
                self.entries.clear()
            self.entries[tenant_id] = (now, settings)
        return settings

    def invalidate(self, tenant_id: str) -> None:
        self.entries.pop(tenant_id, None)
        self.versions[tenant_id] = self.versions.get(tenant_id, 0) + 1

    # TopicHandler of settings announcements (`keys.SETTINGS_TOPIC`) from every gateway, this one's included

    def deliver(self, topic: str, data: bytes) -> None:
        self.invalidate(data.decode(errors="replace"))

    def resubscribed(self) -> None:
        """Announcements may have been missed while the broker was away."""
        for tenant_id in list(self.entries):
            self.invalidate(tenant_id)
