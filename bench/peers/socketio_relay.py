"""Peer (b): python-socketio with `AsyncRedisManager`, one room per session, served by uvicorn.

Publishers emit with a write-only `AsyncRedisManager` (see `bench.injector`);
every server process receives on the manager's channel and emits to the room.
A client joins with the `join` event (ack `{}`) and then receives the events
under their streamrelay names with the same payloads.

    python -m bench.peers.socketio_relay --port P --redis-url redis://…
"""

from __future__ import annotations

import argparse
from typing import Any

import socketio
import uvicorn


def create_app(redis_url: str) -> socketio.ASGIApp:
    server = socketio.AsyncServer(
        async_mode="asgi", client_manager=socketio.AsyncRedisManager(redis_url), cors_allowed_origins="*"
    )

    @server.on("join")
    async def join(sid: str, session_id: Any) -> dict[str, Any]:
        await server.enter_room(sid, str(session_id))
        return {}

    return socketio.ASGIApp(server)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.redis_url), host="127.0.0.1", port=args.port, log_level="warning")
