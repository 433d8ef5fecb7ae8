"""Peer (a): a minimal raw relay, the practical limit of a Python relay.

`websockets` server + redis-py asyncio; one Redis subscription per session,
shared by that session's sockets; each event decoded once, its Phoenix V2 push
frame encoded once and written to every socket with `websockets.broadcast`
(no per-socket queue, task or await). It consumes the same msgpack envelopes
that streamrelay's `RedisBroker.publish` emits and speaks the same join/push
frames, so the same load generator drives it. No auth, SQL, history or resume.

    python -m bench.peers.raw_relay --port P --redis-url redis://…
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import msgpack
import orjson
import redis.asyncio as redis
import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed

CONTROL = "raw_relay:control"  # subscribed at start so the pub/sub connection exists


class Relay:
    def __init__(self, redis_url: str) -> None:
        self.pubsub = redis.Redis.from_url(redis_url).pubsub()
        self.sockets: dict[str, set[ServerConnection]] = {}
        self.confirmed: dict[str, asyncio.Future[None]] = {}

    async def read_forever(self) -> None:
        await self.pubsub.subscribe(CONTROL)
        while True:
            message = await self.pubsub.get_message(timeout=None)
            if message is None:
                continue
            topic = message["channel"].decode()
            if message["type"] == "message":
                self.deliver(topic, message["data"])
            elif message["type"] == "subscribe":
                confirmed = self.confirmed.get(topic)
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)

    def deliver(self, topic: str, data: bytes) -> None:
        sockets = self.sockets.get(topic)
        if not sockets:
            return
        envelope = msgpack.unpackb(data)
        payload = envelope["payload"]
        payload["seq"], payload["message_id"] = envelope["seq"], envelope["message_id"]
        broadcast(sockets, orjson.dumps([None, None, topic, envelope["event"], payload]), text=True)

    async def join(self, topic: str, socket: ServerConnection) -> None:
        sockets = self.sockets.get(topic)
        if sockets is None:
            sockets = self.sockets[topic] = set()
            self.confirmed[topic] = asyncio.get_running_loop().create_future()
            await self.pubsub.subscribe(topic)
        sockets.add(socket)
        await asyncio.shield(self.confirmed[topic])

    async def leave(self, topic: str, socket: ServerConnection) -> None:
        sockets = self.sockets.get(topic)
        if sockets is None:
            return
        sockets.discard(socket)
        if not sockets:
            del self.sockets[topic]
            del self.confirmed[topic]
            await self.pubsub.unsubscribe(topic)

    async def handle(self, socket: ServerConnection) -> None:
        joined: set[str] = set()
        try:
            async for raw in socket:
                join_ref, ref, topic, event, _ = orjson.loads(raw)
                if event == "phx_join":
                    await self.join(topic, socket)
                    joined.add(topic)
                elif event == "phx_leave" and topic in joined:
                    joined.discard(topic)
                    await self.leave(topic, socket)
                reply = {"status": "ok", "response": {}}
                await socket.send(orjson.dumps([join_ref, ref, topic, "phx_reply", reply]), text=True)
        except ConnectionClosed:
            pass
        finally:
            for topic in joined:
                await self.leave(topic, socket)


async def main(port: int, redis_url: str) -> None:
    relay = Relay(redis_url)
    reader = asyncio.create_task(relay.read_forever())
    stop = asyncio.get_running_loop().create_future()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set_result, None)
    options = {"compression": None, "ping_interval": 20, "ping_timeout": 20, "backlog": 2048}  # uvicorn's backlog
    async with serve(relay.handle, "127.0.0.1", port, **options):
        await stop
    reader.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis-url", required=True)
    args = parser.parse_args()
    uvloop.run(main(args.port, args.redis_url))
