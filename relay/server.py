"""Serving with uvicorn: the gateway's options, and a server inside a running loop (dev, tests, demo upstream)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn

from .settings import Settings

WS_MAX_SIZE = 16 * 1024 * 1024


def uvicorn_options(settings: Settings) -> dict[str, object]:
    """WebSockets are served by `relay.websocket`, without per-message deflate (as in Phoenix:
    it would compress every frame once per socket) and without pings (clients send heartbeats)."""
    from .http_protocol import head_deadline_protocol
    from .websocket import WebSocketConnection

    return {
        "http": head_deadline_protocol(settings.request_read_timeout_seconds),
        "ws": WebSocketConnection,
        "ws_max_size": WS_MAX_SIZE,
        # SIGTERM: stop accepting, close WebSockets (1012), give open requests (SSE, ?wait=true) this long
        "timeout_graceful_shutdown": settings.shutdown_grace_seconds,
        "log_level": "info",
        "log_config": None,  # logging is ours: see `relay.log_redaction`
    }


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave signal handling to whoever owns the event loop."""
        yield


class EmbeddedServer:
    """`await start()` binds (port 0 picks a free one) and sets `url`; `await stop()` shuts down."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        options = {"lifespan": "on", "log_level": "warning", "timeout_graceful_shutdown": 2, **options}
        self.server = _Server(uvicorn.Config(app, host=host, port=port, **options))
        self.task: asyncio.Task[None] | None = None
        self.url = ""
        self.port = 0

    async def start(self) -> str:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()
                raise RuntimeError("the server stopped while starting")
            await asyncio.sleep(0.01)
        host, self.port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{self.port}"
        return self.url

    async def stop(self) -> None:
        if self.task is not None:
            self.server.should_exit = True
            await self.task
            self.task = None

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
