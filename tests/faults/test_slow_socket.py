"""A tab that stops reading is cut off at its queue bound (4008); the others keep full speed."""

from __future__ import annotations

import asyncio
import socket

import websockets

from schema import events

from ..phoenix import PhoenixClient
from ..system import Backend, System

EVENTS = 160
CHUNK = "x" * 50_000  # 8 MB in all: more than the kernel's socket buffers can hide


async def test_a_socket_that_stops_reading_is_closed_with_4008_while_other_tabs_get_everything(
    backend: Backend,
) -> None:
    async with System(backend, socket_queue_bytes=256 * 1024) as system:
        session_id = await system.new_session()
        topic = f"ai_session:{session_id}"
        fast = await system.client()
        assert (await fast.join(topic))["status"] == "ok"

        stuck_socket = socket.socket()
        stuck_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stuck_socket.connect(("127.0.0.1", system.gateways[0].port))
        slow = await PhoenixClient.connect(system.url, system.token(), sock=stuck_socket, max_queue=1)
        assert (await slow.join(topic))["status"] == "ok"
        slow.reader.cancel()  # from now on the slow tab reads nothing

        broker = await system.publisher()
        received = []
        for _ in range(EVENTS):  # paced by the fast tab, which keeps up
            await broker.event_log.publish(session_id, events.STREAMING_CHUNK, "m1", {"content": CHUNK})
            received.append(await fast.next_event(topic, within=30))
        assert [payload["seq"] for _, payload in received] == list(range(1, EVENTS + 1))

        code = await closing_code(slow)
        assert code == 4008


async def closing_code(client: PhoenixClient) -> int | None:
    try:
        async with asyncio.timeout(30):
            async for _ in client.connection:
                pass
    except websockets.ConnectionClosed:
        pass
    return client.connection.close_code
