"""A tab editing a hosted document, in Python: a pycrdt document synced over the `doc:` channel with
Phoenix V2 binary frames, as y-phoenix-channel does (for tests; the Node tests use yjs itself)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Callable
from typing import Any

import websockets
from pycrdt import Text, create_sync_message, create_update_message, handle_sync_message
from websockets.asyncio.client import ClientConnection

from relay.yjs_messages import AWARENESS, QUERY_AWARENESS, SYNC, awareness_clocks
from schema.documents import load


def decode_server_frame(data: bytes) -> tuple[str, str, bytes]:
    """(topic, event, payload) of a server's binary push (kind 0) or broadcast (kind 2)."""
    kind = data[0]
    sizes = data[1:4] if kind == 0 else data[1:3]
    offset = 1 + len(sizes)
    fields = []
    for size in sizes:
        fields.append(data[offset : offset + size].decode())
        offset += size
    return fields[-2], fields[-1], data[offset:]


class YjsTab:
    def __init__(self, connection: ClientConnection, topic: str) -> None:
        self.connection = connection
        self.topic = topic
        self.doc = load([])
        self.text = self.doc.get("text", type=Text)
        self.refs = itertools.count(1)
        self.join_ref = ""
        self.replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.awareness: dict[int, int] = {}  # what others' awareness messages said, by client id
        self.queries = 0
        self.closed = False  # the server closed the topic (`phx_close`)
        self.received = 0
        self.changed = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, base_url: str, token: str, session_id: str, name: str) -> YjsTab:
        url = base_url.replace("http://", "ws://") + f"/socket/websocket?vsn=2.0.0&token={token}"
        tab = cls(await websockets.connect(url), f"doc:{session_id}:{name}")
        reply = await tab.join()
        if reply["status"] != "ok":
            await tab.close()
            raise PermissionError(reply["response"]["reason"])
        return tab

    async def join(self) -> dict[str, Any]:
        self.join_ref = str(next(self.refs))
        reply = await self._request(self.join_ref, "phx_join", {})
        if reply["status"] == "ok":
            await self.push("yjs_sync", create_sync_message(self.doc))
        return reply

    async def _request(self, ref: str, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        future = self.replies[ref] = asyncio.get_running_loop().create_future()
        await self.connection.send(json.dumps([self.join_ref, ref, self.topic, event, payload]))
        return await asyncio.wait_for(future, 15)

    async def push(self, event: str, message: bytes) -> str:
        """A binary push; returns its ref (a refused push is replied to under it: `replies`)."""
        ref = str(next(self.refs))
        self.replies[ref] = asyncio.get_running_loop().create_future()
        header = bytes((0, len(self.join_ref), len(ref), len(self.topic.encode()), len(event)))
        await self.connection.send(header + f"{self.join_ref}{ref}{self.topic}{event}".encode() + message)
        return ref

    async def refusal(self, ref: str) -> dict[str, Any]:
        return await asyncio.wait_for(self.replies[ref], 15)

    async def edit(self, change: Callable[[Text], None]) -> None:
        """Edit the text here and send the update, as a tab does when its person types."""
        before = self.doc.get_state()
        with self.doc.transaction():
            change(self.text)
        await self.push("yjs", create_update_message(self.doc.get_update(before)))

    async def say_awareness(self, message: bytes) -> None:
        await self.push("yjs", message)

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.connection:
                if isinstance(raw, str):
                    _, ref, _, event, payload = json.loads(raw)
                    if event == "phx_reply" and ref in self.replies:
                        self.replies.pop(ref).set_result(payload)
                    elif event == "phx_close":
                        self.closed = True
                        self.changed.set()
                    continue
                _, event, message = decode_server_frame(raw)
                assert event == "yjs", event
                self.received += 1
                if message[0] == SYNC:
                    answer = handle_sync_message(message[1:], self.doc)
                    if answer is not None:
                        await self.push("yjs", answer)
                elif message[0] == AWARENESS:
                    self.awareness.update(awareness_clocks(message))
                elif message[0] == QUERY_AWARENESS:
                    self.queries += 1
                self.changed.set()

    async def wait(self, condition: Callable[[YjsTab], bool], within: float = 10) -> None:
        async with asyncio.timeout(within):
            while not condition(self):
                self.changed.clear()
                await self.changed.wait()

    async def wait_text(self, expected: str, within: float = 10) -> None:
        try:
            await self.wait(lambda tab: str(tab.text) == expected, within)
        except TimeoutError:
            raise AssertionError(f"text stayed {str(self.text)!r}, expected {expected!r}") from None

    async def close(self) -> None:
        await self.connection.close()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.reader
