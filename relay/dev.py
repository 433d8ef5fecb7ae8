"""`streamrelay dev`: the whole system in one process on its embedded defaults.

In-memory broker, SQLite, the built-in demo upstream over real HTTP, a worker
and the gateway with its web app; logs only what goes wrong, and prints last
the links of two people (an admin and a colleague), so that presence and
editing together can be tried.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets

from sqlalchemy import select

from schema.credentials import generate_key
from schema.db import create_engine, session_factory
from schema.migrate import upgrade
from schema.models import ChatSession, Tenant
from workers.http import upstream_clients
from workers.main import on_signals
from workers.runner import Worker
from workers.upstreams import provider_factory

from .app import create_app
from .auth import mint
from .broker.memory import MemoryBroker
from .demo_script import SAMPLE_JOB_CODE
from .demo_upstream import DemoUpstream
from .server import EmbeddedServer, uvicorn_options
from .settings import Settings

DEMO_TENANT, DEMO_USER = "demo", "demo-user"
PEOPLE = ((DEMO_USER, "Ada Lovelace", "admin"), ("demo-colleague", "Grace Hopper", "member"))


async def seed(settings: Settings) -> str:
    """Migrate, enable the assistant for the demo tenant, and return the demo session's id."""
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        async with session_factory(engine).begin() as db:
            tenant = await db.get(Tenant, DEMO_TENANT)
            if tenant is None:
                tenant = Tenant(id=DEMO_TENANT, settings={})
                db.add(tenant)
            tenant.settings = {**(tenant.settings or {}), "experimental_features": {"ai_assistant": True}}
            session = await db.scalar(select(ChatSession).where(ChatSession.tenant_id == DEMO_TENANT).limit(1))
            if session is None:
                context = {"job_code": SAMPLE_JOB_CODE}  # for the demo's "fix my job code" answer
                session = ChatSession(tenant_id=DEMO_TENANT, user_id=DEMO_USER, title="Demo session", context=context)
                db.add(session)
        return session.id
    finally:
        await engine.dispose()


async def run_dev(settings: Settings) -> None:
    settings = settings.with_(
        secret=settings.secret or secrets.token_urlsafe(32), upstream_provider="demo", shutdown_grace_seconds=3.0,
        # tenant secrets stored in this run are readable in this run only, unless CREDENTIALS_KEY is set
        credentials_key=settings.credentials_key or generate_key(),
    )  # fmt: skip
    session_id = await seed(settings)
    stop = asyncio.Event()
    on_signals(asyncio.get_running_loop(), stop.set)
    async with DemoUpstream() as upstream:
        settings = settings.with_(upstream_url=upstream.url)
        broker = MemoryBroker(settings.log_maxlen, settings.history_ttl_seconds, settings.log_max_bytes)
        app = create_app(settings, broker)
        gateway = EmbeddedServer(
            app, settings.host, settings.port, **{**uvicorn_options(settings), "log_level": "warning"}
        )
        async with gateway, upstream_clients(settings) as (client, tenant_client):
            providers = provider_factory(settings, client, tenant_client)
            worker = Worker(settings, broker, app.state.gateway.db, providers, name="dev")
            working = asyncio.create_task(worker.run())
            print(welcome(settings.secret or "", f"http://localhost:{gateway.port}", session_id), flush=True)
            await stop.wait()
            worker.shutdown()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(working, settings.shutdown_grace_seconds)


def welcome(secret: str, base: str, session_id: str) -> str:
    """What `streamrelay dev` prints once it runs: the second person's link, then the app's URL, last."""
    (admin, admin_name, _), (colleague, colleague_name, role) = PEOPLE
    link = {user: f"{base}/?session={session_id}&token={mint(secret, user, DEMO_TENANT, r, name=name)}"
            for user, name, r in PEOPLE}  # fmt: skip
    return (
        "\nstreamrelay dev is running: the gateway, a worker and the demo upstream, with an in-memory broker and\n"
        "SQLite. Ctrl-C stops.\n\n"
        f"To try presence and editing together, open {colleague_name}'s link ({role}) in another browser or a\n"
        f"private window:\n  {link[colleague]}\n\n"
        f"Open the app as {admin_name} (admin):\n  open  {link[admin]}"
    )
