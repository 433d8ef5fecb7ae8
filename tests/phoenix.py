"""A small Phoenix Channels V2 client over the `websockets` library, for tests."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection


class PhoenixClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self.refs = itertools.count(1)
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.join_refs: dict[str, str] = {}
        self.pushes: dict[str, asyncio.Queue[tuple[str, dict[str, Any]]]] = {}
        self.presences: dict[str, asyncio.Queue[tuple[str, dict[str, Any]]]] = {}  # not session events
        self.frames: list[Any] = []
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, base_url: str, token: str, vsn: str = "2.0.0", **options: Any) -> PhoenixClient:
        url = base_url.replace("http://", "ws://") + f"/socket/websocket?vsn={vsn}&token={token}"
        return cls(await websockets.connect(url, **options))

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.connection:
                frame = json.loads(raw)
                self.frames.append(frame)
                _, ref, topic, event, payload = frame
                if event == "phx_reply" and ref in self.replies:
                    self.replies.pop(ref).set_result(payload)
                elif event in ("presence_state", "presence_diff"):
                    self.presences.setdefault(topic, asyncio.Queue()).put_nowait((event, payload))
                else:
                    self.queue(topic).put_nowait((event, payload))

    def queue(self, topic: str) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        return self.pushes.setdefault(topic, asyncio.Queue())

    async def send_raw(self, data: str | bytes) -> None:
        await self.connection.send(data)

    async def request(self, join_ref: str | None, topic: str, event: str, payload: Any) -> dict[str, Any]:
        ref = str(next(self.refs))
        reply = self.replies[ref] = asyncio.get_running_loop().create_future()
        await self.connection.send(json.dumps([join_ref, ref, topic, event, payload]))
        return await asyncio.wait_for(reply, 15)

    async def join(self, topic: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        join_ref = str(next(self.refs))
        self.join_refs[topic] = join_ref
        ref = join_ref
        reply = self.replies[ref] = asyncio.get_running_loop().create_future()
        await self.connection.send(json.dumps([join_ref, ref, topic, "phx_join", params or {}]))
        return await asyncio.wait_for(reply, 15)

    async def push(self, topic: str, event: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.request(self.join_refs.get(topic), topic, event, payload or {})

    async def heartbeat(self) -> dict[str, Any]:
        return await self.request(None, "phoenix", "heartbeat", {})

    async def next_event(self, topic: str, within: float = 15) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self.queue(topic).get(), within)

    async def next_presence(self, topic: str, within: float = 15) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self.presences.setdefault(topic, asyncio.Queue()).get(), within)

    async def events_until(
        self, topic: str, last: str = "new_message", within: float = 30
    ) -> list[tuple[str, dict[str, Any]]]:
        """Every push on `topic` up to and including the first `last` event."""
        seen = []
        async with asyncio.timeout(within):
            while True:
                event, payload = await self.queue(topic).get()
                seen.append((event, payload))
                if event == last:
                    return seen

    async def close(self) -> None:
        await self.connection.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
