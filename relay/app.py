"""`create_app(settings)`: the gateway as an ASGI application."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
from collections.abc import AsyncIterator

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from schema import keys
from schema.db import create_engine, session_factory

from . import ai_sdk, api, static_files
from .broker import create_broker
from .broker.base import Broker, BrokerUnavailable
from .broker.topic_bus import TopicBus, TopicHandler
from .chat import Chat
from .documents import Documents
from .fanout import Fanout
from .gateway import Gateway
from .join_page import JoinPages
from .limits import UserLimits
from .metrics import JOBS_PENDING, JOBS_WAITING
from .presence_tracker import PresenceTracker
from .security_headers import SecurityHeaders
from .settings import Settings
from .settings_cache import SettingsCache
from .tenant_topic import TenantTopics
from .tenants import Tenants


async def subscribe_patiently(topics: TopicBus, topic: str, *handlers: TopicHandler) -> None:
    """Register the handlers, in order, once the broker answers."""
    for handler in handlers:
        while True:
            try:
                await topics.subscribe(topic, handler)
                break
            except BrokerUnavailable:
                await asyncio.sleep(1.0)


# What a browser on another origin may send and read: the bearer token, JSON, SSE's resume header, and the
# AI SDK's (`DefaultChatTransport` sends `Content-Type` and the app's own headers, e.g. `Authorization`).
CORS_HEADERS = ("Authorization", "Content-Type", "Accept", "Last-Event-ID")
CORS_EXPOSED = ("Retry-After", "x-vercel-ai-ui-message-stream")


def cors(origins: tuple[str, ...]) -> list[Middleware]:
    """Preflights answered, and responses readable, for `CORS_ALLOWED_ORIGINS` only (no cookies are used)."""
    if not origins:
        return []
    methods = ("GET", "POST", "PUT", "PATCH", "DELETE")
    options = {"allow_methods": methods, "allow_headers": CORS_HEADERS, "expose_headers": CORS_EXPOSED}
    return [Middleware(CORSMiddleware, allow_origins=origins, max_age=600, **options)]


LOOPBACK = frozenset({"127.0.0.1", "::1"})
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def metrics_refusal(request: Request, token: str | None) -> Response | None:
    """`/metrics` tells a lot about the service: only to loopback, or to whoever has `METRICS_TOKEN`.

    A request relayed by a proxy on this host arrives from loopback too, but names its client.
    """
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return JSONResponse({"error": "Metrics need the metrics token.", "code": "unauthorized"}, status_code=401)
    client = request.client.host if request.client else ""
    if client in LOOPBACK and not any(header in request.headers for header in PROXY_HEADERS):
        return None
    message = "Metrics are served only on loopback unless METRICS_TOKEN is set."
    return JSONResponse({"error": message, "code": "forbidden"}, status_code=403)


# A young collection every 10,000 net allocations instead of 700 and a full one rarely: a storm of joins
# allocates tens of objects per socket, and with thousands of sockets alive Python's default collections
# cost CPU (bench/README.md: `streamrelay~default-gc`). The middle generation is collected every third
# young collection, so that one traverses at most 30,000 objects: with (50,000, 20) it held up to a million,
# and its one collection in a reconnect storm stalled every join and delivery in flight for ~400 ms.
GC_THRESHOLDS = (10_000, 2, 100)


def create_app(settings: Settings, broker: Broker | None = None) -> Starlette:
    """The gateway; a `broker` passed in is shared (dev mode) and not started or closed here."""
    owns_broker = broker is None
    broker = broker or create_broker(settings)
    engine = create_engine(settings.database_url, settings.sql_connections)
    db = session_factory(engine)
    cache = SettingsCache(db)
    topics = broker.topics

    async def settings_changed(tenant_id: str) -> None:
        await topics.announce(keys.SETTINGS_TOPIC, tenant_id.encode())

    tenants = Tenants(db, cache, settings_changed, settings.operator, settings.outbound_policy, settings.credentials)
    chat = Chat(
        db, event_log=broker.event_log, jobs=broker.jobs, topics=topics, grants=broker.grants, tenants=tenants,
        max_message_chars=settings.max_message_chars,
        context_max_bytes=settings.context_max_bytes,
        documents=broker.documents,
    )  # fmt: skip
    tenant_topics = TenantTopics(tenants)
    presence = PresenceTracker(broker.presence, settings.presence_ttl_seconds, settings.presence_interval_seconds)
    limits = UserLimits(broker.limits, settings)
    documents = Documents(topics, broker.documents, db, settings.log_max_bytes // 4)
    gateway = Gateway(
        settings, broker, engine, db, Fanout(broker.event_log), chat, tenants, presence,
        JoinPages(broker.event_log, chat), limits,
        documents, tenant_topics,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Gateway]]:
        if owns_broker:
            await broker.start()
        # Settings announcements; until Redis answers, the cache's age bound stands in for them.
        # The cache first: the tenant channels read the settings it has just dropped.
        announcements = asyncio.create_task(subscribe_patiently(topics, keys.SETTINGS_TOPIC, cache, tenant_topics))
        # What start-up allocated lives as long as the process: keep it out of every
        # collection, so that a full one does not stall the streams for tens of milliseconds.
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        keeping_presence = asyncio.create_task(presence.run(), name="presence")
        keeping_slots = asyncio.create_task(limits.run(), name="socket slots")
        try:
            yield {"gateway": gateway}  # uvicorn hands this state to `relay.websocket`
        finally:
            announcements.cancel()
            keeping_presence.cancel()
            keeping_slots.cancel()
            await documents.close()  # what the documents' rooms added, into SQL
            if owns_broker:
                await broker.close()
            await engine.dispose()

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        checks = {"broker": await broker.ping(), "database": await database_ready()}
        return JSONResponse({"ready": all(checks.values()), **checks}, status_code=200 if all(checks.values()) else 503)

    async def database_ready() -> bool:
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def metrics(request: Request) -> Response:
        refusal = metrics_refusal(request, settings.metrics_token)
        if refusal is not None:
            return refusal
        try:
            waiting, pending = await broker.jobs.counts()
            JOBS_WAITING.set(waiting)
            JOBS_PENDING.set(pending)
        except BrokerUnavailable:
            pass
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/", static_files.index),
        Mount("/static", static_files.WebApp(), name="static"),
        *api.routes(gateway),
        *ai_sdk.routes(gateway),
    ]
    app = Starlette(
        routes=routes, lifespan=lifespan,
        middleware=[*cors(settings.cors_allowed_origins), Middleware(SecurityHeaders)],
    )  # fmt: skip
    app.router.redirect_slashes = False  # its redirect would be built from the client's Host header
    app.state.gateway = gateway
    return app
