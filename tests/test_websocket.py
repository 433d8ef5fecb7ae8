"""The WebSocket connection under a Phoenix socket: the upgrade, framing, flow control, idle sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import websockets
from websockets import http11
from websockets.protocol import State

from relay.auth import Claims
from relay.broker.limits_memory import MemoryLimits
from relay.limits import UserLimits
from relay.serializer import V2Serializer
from relay.settings import Settings
from relay.socket import INBOX_LIMIT, Socket
from relay.websocket import WebSocketConnection
from schema import events

from .conditions import until
from .phoenix import PhoenixClient
from .system import Backend, System


def socket_url(system: System, path: str = "/socket/websocket", vsn: str = "2.0.0") -> str:
    return system.url.replace("http://", "ws://") + f"{path}?vsn={vsn}&token={system.token()}"


async def test_an_upgrade_to_another_path_is_refused_with_404(system: System) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(socket_url(system, path="/socket/elsewhere"))
    assert refused.value.response.status_code == 404
    assert b"/socket/websocket" in refused.value.response.body


async def test_an_unsupported_vsn_is_refused_with_400_naming_the_supported_ones(system: System) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(socket_url(system, vsn="3.0.0"))
    assert refused.value.response.status_code == 400
    assert b"1.0.0, 2.0.0" in refused.value.response.body


async def raw_upgrade(system: System, head: str) -> bytes:
    """What the gateway answers a hand-written upgrade request (its status line and headers)."""
    address = urlsplit(system.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n")
        return await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()


def upgrade_head(system: System, method: str = "GET", key: str | None = "dGhlIHNhbXBsZSBub25jZQ==") -> str:
    lines = [f"{method} /socket/websocket?vsn=2.0.0&token={system.token()} HTTP/1.1", "Host: localhost",
             "Upgrade: websocket", "Connection: Upgrade", "Sec-WebSocket-Version: 13"]  # fmt: skip
    return "\n".join([*lines, *([f"Sec-WebSocket-Key: {key}"] if key else []), ""])


async def test_an_upgrade_is_accepted_from_the_request_uvicorn_parsed_without_parsing_it_again(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parsed_again(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the upgrade request was parsed a second time")

    monkeypatch.setattr(http11.Request, "parse", parsed_again)
    answer = await raw_upgrade(system, upgrade_head(system))
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in answer  # RFC 6455's example key
    client = await system.client()
    assert (await client.heartbeat())["status"] == "ok"


async def test_an_upgrade_without_its_key_is_refused_with_400(system: System) -> None:
    answer = await raw_upgrade(system, upgrade_head(system, key=None))
    assert answer.startswith(b"HTTP/1.1 400 ")


async def test_an_upgrade_that_is_not_a_get_is_refused_with_400(system: System) -> None:
    answer = await raw_upgrade(system, upgrade_head(system, method="POST"))
    assert answer.startswith(b"HTTP/1.1 400 ")


async def test_a_message_sent_in_fragments_is_handled_whole(system: System) -> None:
    client = await system.client()
    reply = client.replies["7"] = asyncio.get_running_loop().create_future()
    await client.connection.send(iter(['[null,"7",', '"phoenix","heart', 'beat",{}]']))
    assert await asyncio.wait_for(reply, 5) == {"status": "ok", "response": {}}


async def test_a_socket_silent_for_the_heartbeat_window_is_closed_and_a_beating_one_is_not(backend: Backend) -> None:
    async with System(backend, socket_idle_seconds=0.6) as system:
        silent = await system.client(ping_interval=None)
        beating = await system.client(ping_interval=None)
        for _ in range(8):  # 1.6 s: well past the window
            assert (await beating.heartbeat())["status"] == "ok"
            await asyncio.sleep(0.2)
        await asyncio.wait_for(silent.reader, 5)
        assert silent.connection.close_code == 1000
        assert beating.connection.state is State.OPEN


async def test_a_tab_that_falls_behind_within_its_bound_gets_every_event_in_order(backend: Backend) -> None:
    """The kernel's buffers fill, frames wait in the socket's queue, and all of them arrive."""
    async with System(backend, socket_queue_bytes=16 * 1024 * 1024) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        tight = socket.socket()
        tight.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        tight.connect(("127.0.0.1", system.gateways[0].port))
        tab = await PhoenixClient.connect(system.url, system.token(), sock=tight, max_queue=1)
        assert (await tab.join(topic))["status"] == "ok"
        tab.reader.cancel()  # the tab stops reading for a while
        with contextlib.suppress(asyncio.CancelledError):
            await tab.reader

        broker = await system.publisher()
        chunks = [f"<{n}>" + "x" * 20_000 for n in range(1, 401)]  # 8 MB: more than the kernel buffers hold
        for chunk in chunks:
            await broker.event_log.publish(session_id, events.STREAMING_CHUNK, "m1", {"content": chunk})
        await until(lambda: queued_frames(system) > 0)

        received = []
        async for raw in tab.connection:
            _, _, _, event, payload = json.loads(raw)
            if event.startswith("presence_"):  # not a session event
                continue
            received.append(payload)
            if len(received) == len(chunks):
                break
        assert [payload["seq"] for payload in received] == list(range(1, len(chunks) + 1))
        assert [payload["content"] for payload in received] == chunks


def queued_frames(system: System) -> int:
    connections = system.gateways[0].server.server_state.connections
    return sum(len(c.outbox or ()) for c in connections if isinstance(c, WebSocketConnection))


class RecordingConnection:
    """The seam under a `Socket`: what it writes, and whether it asked to stop reading."""

    def __init__(self) -> None:
        self.frames: list[list[Any]] = []
        self.reading = True

    def send(self, frame: bytes) -> None:
        self.frames.append(orjson.loads(frame))

    def close(self, code: int, reason: str) -> None:
        raise AssertionError(f"closed: {code} {reason}")

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True


async def test_client_messages_are_answered_in_order_and_a_flood_pauses_reading_until_handled() -> None:
    connection = RecordingConnection()
    settings = Settings(user_burst=INBOX_LIMIT * 2)
    gateway = SimpleNamespace(settings=settings, limits=UserLimits(MemoryLimits(), settings))
    sock = Socket(connection, V2Serializer(), Claims("alice", "acme", "member"), gateway)  # type: ignore[arg-type]
    count = INBOX_LIMIT * 2
    for ref in range(count):  # as one TCP read full of frames would
        event = "heartbeat" if ref % 2 else "claim_changes"
        topic = "phoenix" if ref % 2 else "ai_session:not-joined"
        sock.receive(orjson.dumps(["1", str(ref), topic, event, {}]))
    assert not connection.reading
    await until(lambda: sock.dispatcher is None)
    assert connection.reading
    assert [frame[1] for frame in connection.frames] == [str(ref) for ref in range(count)]
    assert [frame[4]["status"] for frame in connection.frames] == ["error", "ok"] * INBOX_LIMIT
