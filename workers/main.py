"""The worker process (`streamrelay worker`, `python -m workers`): generations until SIGTERM, then a drain."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from relay.broker import create_broker
from relay.settings import ConfigError, Settings
from schema.db import create_engine, session_factory

from .http import upstream_clients
from .runner import Worker, sql_turns
from .upstreams import provider_factory


def on_signals(loop: asyncio.AbstractEventLoop, stop: Callable[[], None]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop)


def serve_worker_metrics(settings: Settings) -> Any:
    """A worker's Prometheus endpoint, on `METRICS_HOST` (loopback unless the operator opens it)."""
    from prometheus_client import start_http_server

    server, _ = start_http_server(settings.metrics_port or 0, addr=settings.metrics_host)
    return server


async def run_worker(settings: Settings) -> None:
    """Take jobs until SIGTERM or SIGINT, then let running generations finish within the grace period."""
    if settings.upstream_url is None and settings.upstream_provider != "demo":
        raise ConfigError(f"UPSTREAM_URL is required for UPSTREAM_PROVIDER={settings.upstream_provider}")
    if settings.metrics_port is not None:
        serve_worker_metrics(settings)
    broker = create_broker(settings)
    engine = create_engine(settings.database_url, sql_turns(settings.worker_concurrency) + 1)
    await broker.start()
    async with upstream_clients(settings) as (client, tenant_client):
        providers = provider_factory(settings, client, tenant_client)
        worker = Worker(settings, broker, session_factory(engine), providers)
        on_signals(asyncio.get_running_loop(), worker.shutdown)
        logging.getLogger("streamrelay").info("worker %s taking jobs", worker.name)
        try:
            await worker.run()
        finally:
            await broker.close()
            await engine.dispose()
