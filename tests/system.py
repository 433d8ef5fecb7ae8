"""A whole streamrelay in the test's event loop: demo upstream, gateway, worker.

With Redis each part gets its own broker connection, as separate processes
would; with the in-memory broker they share one, as `streamrelay dev` does.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

import httpx

from relay.app import create_app
from relay.auth import mint
from relay.broker import create_broker
from relay.broker.base import Broker
from relay.demo_upstream import DemoUpstream
from relay.server import EmbeddedServer, uvicorn_options
from relay.settings import Settings
from schema.credentials import generate_key
from schema.db import create_engine, session_factory
from schema.migrate import upgrade
from schema.outbound import guarded_client
from workers.runner import Worker
from workers.upstreams import provider_factory

from .phoenix import PhoenixClient

SECRET = "test-secret-that-is-long-enough-for-hs256"
CREDENTIALS_KEY = generate_key()


@dataclass
class Backend:
    name: str
    redis_url: str | None
    database_url: str
    cluster: bool = False

    def settings(self, **overrides: Any) -> Settings:
        base = Settings(
            redis_url=self.redis_url,
            redis_cluster=self.cluster,
            database_url=self.database_url,
            secret=SECRET,
            credentials_key=CREDENTIALS_KEY,
            upstream_provider="demo",
            port=0,
            host="127.0.0.1",
            job_claim_idle_seconds=3.0,
            shutdown_grace_seconds=5.0,
        )
        return base.with_(**overrides)


async def migrate(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


class System:
    def __init__(self, backend: Backend, chunk_delay: float = 0.002, chunks: int = 40, **overrides: Any) -> None:
        self.backend = backend
        self.settings = backend.settings(**overrides)
        self.upstream = DemoUpstream(chunk_delay=chunk_delay, chunks=chunks)
        self.stack = contextlib.AsyncExitStack()
        self.clients: list[PhoenixClient] = []
        self.gateways: list[EmbeddedServer] = []
        self.workers: list[tuple[Worker, asyncio.Task[None]]] = []
        self.shared_broker: Broker | None = None

    @property
    def url(self) -> str:
        return self.gateways[0].url

    async def __aenter__(self) -> System:
        await migrate(self.settings.database_url)
        await self.stack.enter_async_context(self.upstream)
        # an `upstream_url` override points the worker at a scripted upstream instead of the demo
        self.settings = self.settings.with_(upstream_url=self.settings.upstream_url or self.upstream.url)
        if self.settings.memory_broker:
            self.shared_broker = create_broker(self.settings)
        await self.start_gateway()
        self.http = await self.stack.enter_async_context(httpx.AsyncClient(base_url=self.url, timeout=30))
        self.upstream_client = await self.stack.enter_async_context(httpx.AsyncClient())
        self.tenant_client = await self.stack.enter_async_context(guarded_client(self.settings.outbound_policy))
        await self.start_worker()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        """Stop everything; a worker that raised (or would not stop) fails a test that passed so far."""
        for client in self.clients:
            with contextlib.suppress(Exception):
                await client.close()
        failures = []
        for worker, task in self.workers:
            worker.shutdown()
            try:
                await asyncio.wait_for(task, 10)
            except Exception as exc:
                failures.append(f"worker {worker.name}: {exc!r}")
        for worker, _ in self.workers:
            if self.shared_broker is None:
                await worker.broker.close()
        for gateway in self.gateways:
            await gateway.stop()
        await self.stack.aclose()
        if failures and exc_type is None:
            raise AssertionError("an in-process worker failed: " + "; ".join(failures))

    async def start_gateway(self) -> EmbeddedServer:
        app = create_app(self.settings, self.shared_broker)
        server = EmbeddedServer(app, "127.0.0.1", 0, **{**uvicorn_options(self.settings), "log_level": "warning"})
        await server.start()
        self.gateways.append(server)
        return server

    async def start_worker(self, **overrides: Any) -> Worker:
        settings = self.settings.with_(**overrides)
        broker = self.shared_broker or create_broker(settings)
        if self.shared_broker is None:
            await broker.start()
        engine = create_engine(settings.database_url)
        self.stack.push_async_callback(engine.dispose)
        providers = provider_factory(settings, self.upstream_client, self.tenant_client)
        worker = Worker(settings, broker, session_factory(engine), providers)
        self.workers.append((worker, asyncio.create_task(worker.run())))
        return worker

    async def publisher(self) -> Broker:
        """A broker to publish through as a worker does: the shared one, or a connection of its own."""
        if self.shared_broker is not None:
            return self.shared_broker
        broker = create_broker(self.settings)
        await broker.start()
        self.stack.push_async_callback(broker.close)
        return broker

    def token(self, user: str = "alice", tenant: str = "acme", role: str = "member") -> str:
        return mint(SECRET, user, tenant, role)

    def auth(self, user: str = "alice", tenant: str = "acme", role: str = "member") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(user, tenant, role)}"}

    async def enable_assistant(self, tenant: str = "acme") -> None:
        response = await self.http.put(
            "/api/tenant/settings",
            json={"experimental_features": {"ai_assistant": True}},
            headers=self.auth("admin", tenant, "admin"),
        )
        response.raise_for_status()

    async def new_session(self, user: str = "alice", tenant: str = "acme", **body: Any) -> str:
        await self.enable_assistant(tenant)
        response = await self.http.post("/api/sessions", json=body, headers=self.auth(user, tenant))
        response.raise_for_status()
        return response.json()["id"]

    async def post_message(self, session_id: str, content: str, user: str = "alice", tenant: str = "acme") -> Any:
        return await self.http.post(
            f"/api/sessions/{session_id}/messages", json={"content": content}, headers=self.auth(user, tenant)
        )

    async def ask(self, session_id: str, content: str, user: str = "alice", tenant: str = "acme") -> Any:
        """Post and wait for the answer (`?wait=true`)."""
        response = await self.http.post(
            f"/api/sessions/{session_id}/messages?wait=true", json={"content": content}, headers=self.auth(user, tenant)
        )
        response.raise_for_status()
        return response.json()["message"]

    async def client(self, user: str = "alice", tenant: str = "acme", url: str | None = None, **options: Any):
        client = await PhoenixClient.connect(url or self.url, self.token(user, tenant), **options)
        self.clients.append(client)
        return client
