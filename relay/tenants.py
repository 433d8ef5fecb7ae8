"""Tenants as the gateway serves them: created on first use, their settings read and patched by admins."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema.models import Tenant

from .auth import Claims
from .errors import assistant_disabled, bad_request, forbidden

DEFAULT_SETTINGS: dict[str, Any] = {"experimental_features": {"ai_assistant": False}, "ai_provider": {}}


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """`patch` deep-merged into `base` (objects merge key by key; anything else replaces)."""
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def public_settings(stored: dict[str, Any] | None) -> dict[str, Any]:
    """Settings as shown to clients: API keys are write-only."""
    shown = merge(DEFAULT_SETTINGS, stored or {})
    provider = dict(shown.get("ai_provider") or {})
    provider["api_key_set"] = bool(provider.pop("api_key", None))
    shown["ai_provider"] = provider
    return shown


def assistant_enabled(stored: dict[str, Any] | None) -> bool:
    return bool(merge(DEFAULT_SETTINGS, stored or {})["experimental_features"].get("ai_assistant"))


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
    if not assistant_enabled(tenant.settings if tenant else None):
        raise assistant_disabled()


class Tenants:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self.db = db

    async def require_assistant(self, claims: Claims) -> None:
        async with self.db() as db:
            await require_assistant(db, claims)

    async def settings(self, claims: Claims) -> dict[str, Any]:
        async with self.db.begin() as db:
            return public_settings((await tenant_of(db, claims)).settings)

    async def update_settings(self, claims: Claims, patch: Any) -> dict[str, Any]:
        if not claims.is_admin:
            raise forbidden("only tenant admins may change settings")
        if not isinstance(patch, dict):
            raise bad_request("settings must be a JSON object")
        async with self.db.begin() as db:
            tenant = await tenant_of(db, claims)
            tenant.settings = merge(tenant.settings or {}, patch)
            return public_settings(tenant.settings)
