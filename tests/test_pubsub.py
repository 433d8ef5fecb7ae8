"""Redis pub/sub subscriptions (`relay.broker.pubsub`): a frozen connection replaced, subscriptions batched."""

from __future__ import annotations

import asyncio
import signal

import redis.asyncio as redis

from relay.broker.pubsub import Subscriptions

from .conditions import until
from .services import RedisServer


async def test_a_pub_sub_connection_gone_silent_is_replaced_and_the_gateway_told(private_redis: RedisServer) -> None:
    """Redis stops answering without closing the connection (a frozen host): the reader must notice."""
    received: asyncio.Queue[bytes] = asyncio.Queue()
    resubscribed = asyncio.Event()
    subscriptions = Subscriptions(
        private_redis.url, lambda _, data: received.put_nowait(data), resubscribed.set, ping_every=0.2, silence_limit=1
    )
    subscriptions.start()
    try:
        await asyncio.wait_for(subscriptions.subscribe("t"), 5)
        assert private_redis.process is not None
        private_redis.process.send_signal(signal.SIGSTOP)
        await until(lambda: not subscriptions.connected.is_set())  # the reader noticed the silence and hung up
        private_redis.process.send_signal(signal.SIGCONT)
        await asyncio.wait_for(resubscribed.wait(), 15)
        client = redis.Redis.from_url(private_redis.url)
        await client.publish("t", b"after")
        await client.aclose()
        assert await asyncio.wait_for(received.get(), 5) == b"after"
    finally:
        await subscriptions.close()


async def test_topics_subscribed_at_once_go_out_in_a_few_commands_and_all_deliver(private_redis: RedisServer) -> None:
    """A reconnect storm subscribes thousands of topics: one SUBSCRIBE each cost a round trip and a lock turn."""
    received: list[str] = []
    all_arrived = asyncio.Event()
    topics = [f"ai_session:{k}" for k in range(300)]

    def arrived(topic: str, _: bytes) -> None:
        received.append(topic)
        if len(received) == len(topics):
            all_arrived.set()

    subscriptions = Subscriptions(private_redis.url, arrived, lambda: None)
    subscriptions.start()
    client = redis.Redis.from_url(private_redis.url)
    try:
        await asyncio.wait_for(asyncio.gather(*(subscriptions.subscribe(t) for t in topics)), 10)
        stats = await client.info("commandstats")
        assert stats["cmdstat_subscribe"]["calls"] <= 10
        for topic in topics:
            await client.publish(topic, b"x")
        await asyncio.wait_for(all_arrived.wait(), 5)
        assert sorted(received) == sorted(topics)
    finally:
        await client.aclose()
        await subscriptions.close()
