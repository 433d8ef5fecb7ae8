"""Tenants as the gateway serves them: created on first use; settings, features and usage for their admins;
the checks a generation must pass before it starts (feature on, AI configured, usage under the limit)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schema import usage
from schema.ai_config import NotConfigured, Operator, configured, resolve
from schema.credentials import Credentials
from schema.features import AI_ASSISTANT, listing
from schema.models import Tenant, utcnow
from schema.outbound import OutboundPolicy
from schema.tenant_settings import SettingsError, TenantSettings, apply_patch, load, public_view, stored_form

from .auth import Claims
from .broker.base import BrokerUnavailable
from .errors import assistant_disabled, bad_request, forbidden, not_configured, usage_limit
from .settings_cache import SettingsCache

logger = logging.getLogger(__name__)

Announce = Callable[[str], Awaitable[None]]  # tell every gateway that a tenant's settings changed


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


class Tenants:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        cache: SettingsCache,
        announce: Announce,
        operator: Operator,
        policy: OutboundPolicy,
        credentials: Credentials,
    ) -> None:
        self.db = db
        self.cache = cache
        self.announce = announce
        self.operator = operator
        self.policy = policy
        self.credentials = credentials

    def assistant(self, settings: TenantSettings) -> dict[str, bool]:
        """`{enabled, configured}`: what a client needs to show the assistant's state."""
        return {"enabled": settings.feature(AI_ASSISTANT), "configured": configured(settings, self.operator)}

    def _shown(self, settings: TenantSettings) -> dict[str, Any]:
        # the service's own provider, used when the tenant names none (its URL and key stay private)
        default = {"provider": self.operator.provider, "model": self.operator.model}
        return {**public_view(settings), "assistant": self.assistant(settings), "default_provider": default}

    async def settings(self, claims: Claims) -> dict[str, Any]:
        async with self.db.begin() as db:
            return self._shown(load((await tenant_of(db, claims)).settings))

    async def update_settings(self, claims: Claims, patch: Any) -> dict[str, Any]:
        """Merge `patch`; the tenant's row is locked meanwhile, so two admins' patches both apply."""
        if not claims.is_admin:
            raise forbidden("only tenant admins may change settings")
        async with self.db.begin() as db:
            await tenant_of(db, claims)
            tenant = await db.get(Tenant, claims.tenant, with_for_update=True, populate_existing=True)
            assert tenant is not None
            try:
                settings = apply_patch(tenant.settings, patch, self.policy, self.credentials)
            except SettingsError as exc:
                raise bad_request(exc.message) from None
            tenant.settings = stored_form(settings)
        self.cache.invalidate(claims.tenant)
        try:
            await self.announce(claims.tenant)
        except BrokerUnavailable:  # stored all the same; other gateways' caches expire within their age bound
            logger.warning(
                "could not announce the settings change of tenant %s: the broker is unavailable", claims.tenant
            )
        return self._shown(settings)

    async def features(self, claims: Claims) -> list[dict[str, object]]:
        settings = await self.cache.get(claims.tenant)
        return listing(settings.experimental_features.model_dump())

    async def usage(self, claims: Claims, month: str | None) -> dict[str, Any]:
        if not claims.is_admin:
            raise forbidden("only tenant admins may see the tenant's usage")
        month = month or usage.month_of(utcnow())
        try:
            datetime.strptime(month, "%Y-%m")
        except ValueError:
            raise bad_request("month must be YYYY-MM, e.g. 2026-11") from None
        settings = await self.cache.get(claims.tenant)
        async with self.db() as db:
            return await usage.report(db, claims.tenant, month, settings.usage_limit.monthly_tokens)

    async def require_assistant(self, claims: Claims, db: AsyncSession | None = None) -> TenantSettings:
        """`db`: the caller's open session, if it holds one (see `SettingsCache.get`)."""
        settings = await self.cache.get(claims.tenant, db)
        if not settings.feature(AI_ASSISTANT):
            raise assistant_disabled()
        return settings

    async def generation_limit(self, claims: Claims) -> int | None:
        """Before a generation starts, from the cached settings: the feature is on and the AI configured.

        Returns the tenant's monthly token limit, if it has one: the month's total is read from SQL in the
        transaction that starts the generation, not cached, so that once it is reached no gateway starts another.
        """
        settings = await self.require_assistant(claims)
        try:
            resolve(settings, self.operator, None)
        except NotConfigured as exc:
            raise not_configured(str(exc)) from None
        return settings.usage_limit.monthly_tokens

    async def admit_generation(self, db: AsyncSession, claims: Claims, limit: int | None) -> None:
        """The month's tokens not used up (`limit` from `generation_limit`), read in the caller's transaction."""
        if limit is not None:
            month = usage.month_of(utcnow())
            if await usage.month_total(db, claims.tenant, month) >= limit:
                raise usage_limit(usage.resets_at(month).isoformat())
