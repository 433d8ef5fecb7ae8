"""Tenants as the gateway serves them: created on first use, their settings read and patched by admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema import tenant_settings
from schema.models import Tenant

from .auth import Claims
from .errors import assistant_disabled, bad_request, forbidden


async def tenant_of(db: AsyncSession, claims: Claims) -> Tenant:
    """The caller's tenant, created if this is its first request."""
    tenant = await db.get(Tenant, claims.tenant)
    if tenant is None:
        try:
            async with db.begin_nested():
                tenant = Tenant(id=claims.tenant, settings={})
                db.add(tenant)
        except IntegrityError:  # created at the same moment by another request
            tenant = await db.get(Tenant, claims.tenant, populate_existing=True)
            if tenant is None:
                raise
    return tenant


async def require_assistant(db: AsyncSession, claims: Claims) -> None:
    tenant = await db.get(Tenant, claims.tenant)  # one that owns sessions exists; none: never enabled
    if not tenant_settings.assistant_enabled(tenant.settings if tenant else None):
        raise assistant_disabled()


class Tenants:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self.db = db

    async def settings(self, claims: Claims) -> dict[str, Any]:
        async with self.db.begin() as db:
            return tenant_settings.public((await tenant_of(db, claims)).settings)

    async def update_settings(self, claims: Claims, patch: Any) -> dict[str, Any]:
        if not claims.is_admin:
            raise forbidden("only tenant admins may change settings")
        if not isinstance(patch, dict):
            raise bad_request("settings must be a JSON object")
        async with self.db.begin() as db:
            tenant = await tenant_of(db, claims)
            tenant.settings = tenant_settings.merge(tenant.settings or {}, patch)
            return tenant_settings.public(tenant.settings)
