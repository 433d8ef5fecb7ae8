"""`streamrelay rotate-credentials` moves every stored secret to the newest CREDENTIALS_KEY."""

from __future__ import annotations

from schema.credentials import Credentials, generate_key
from schema.db import create_engine, session_factory
from schema.migrate import upgrade
from schema.models import Tenant
from schema.outbound import OutboundPolicy
from schema.tenant_settings import apply_patch, load, stored_form

from .system import Backend
from .test_cli import run

SECRETS = {"ai_provider": {"api_key": "sk-live-0123456789abcdef"}, "tools": {"secret": "whsec-0123456789abcdef"}}


async def test_rotation_re_encrypts_every_secret_with_the_newest_key(backend: Backend) -> None:
    old, new = generate_key(), generate_key()
    engine = create_engine(backend.database_url)
    await upgrade(engine)
    db = session_factory(engine)
    policy = OutboundPolicy.parse("")
    async with db.begin() as session:
        for tenant in ("acme", "globex"):
            session.add(Tenant(id=tenant, settings=stored_form(apply_patch({}, SECRETS, policy, Credentials(old)))))
        session.add(Tenant(id="plain", settings={}))

    result = run("rotate-credentials", DATABASE_URL=backend.database_url, CREDENTIALS_KEY=f"{new},{old}")

    assert result.returncode == 0, result.stderr
    assert "4 secrets" in result.stdout
    assert "sk-live" not in result.stdout + result.stderr and "whsec" not in result.stdout + result.stderr
    async with db() as session:
        settings = load((await session.get(Tenant, "globex")).settings)
    await engine.dispose()
    only_new = Credentials(new)
    assert only_new.decrypt(settings.ai_provider.api_key_encrypted or "") == "sk-live-0123456789abcdef"
    assert only_new.decrypt(settings.tools.secret_encrypted or "") == "whsec-0123456789abcdef"
