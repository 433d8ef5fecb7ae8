"""`streamrelay rotate-credentials`: re-encrypt every stored tenant secret with the newest CREDENTIALS_KEY.

Run it after putting a new key in front of CREDENTIALS_KEY; once it is done the
old key can be dropped. Secrets are never printed, only how many were rotated.
"""

from __future__ import annotations

from sqlalchemy import select

from schema.credentials import Credentials
from schema.db import create_engine, session_factory
from schema.models import Tenant

SECRET_FIELDS = (("ai_provider", "api_key_encrypted"), ("tools", "secret_encrypted"))


async def rotate_credentials(database_url: str, credentials: Credentials) -> int:
    """The number of secrets re-encrypted; each tenant in its own transaction, its row locked meanwhile."""
    engine = create_engine(database_url)
    db = session_factory(engine)
    rotated = 0
    try:
        async with db() as session:
            tenant_ids = list(await session.scalars(select(Tenant.id).order_by(Tenant.id)))
        for tenant_id in tenant_ids:
            async with db.begin() as session:
                tenant = await session.get(Tenant, tenant_id, with_for_update=True)
                if tenant is None:
                    continue
                settings = {k: dict(v) if isinstance(v, dict) else v for k, v in (tenant.settings or {}).items()}
                changed = False
                for section, field in SECRET_FIELDS:
                    token = (settings.get(section) or {}).get(field)
                    if isinstance(token, str):
                        settings[section][field] = credentials.rotate(token)
                        changed, rotated = True, rotated + 1
                if changed:
                    tenant.settings = settings
    finally:
        await engine.dispose()
    return rotated
