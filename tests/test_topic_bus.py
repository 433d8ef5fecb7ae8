"""The topic bus role's contract (`relay.broker.topic_bus`): announcements reach the handlers of their topic only,
a kept one is found later, and a reconnect tells every handler once."""

from __future__ import annotations

import asyncio

import pytest

from relay.broker.base import Broker
from relay.broker.memory import MemoryBroker
from relay.broker.redis import RedisBroker
from relay.broker.topic_bus import Router, TopicBus
from schema import keys

from . import brokers
from .brokers import Collector, publish_chunks
from .fake_redis import FakeRedisServer
from .services import RedisServer

broker = brokers.broker


@pytest.fixture
def topics(broker: Broker) -> TopicBus:
    return broker.topics


async def test_stop_requests_are_remembered_and_announced(topics: TopicBus) -> None:
    collector = Collector()
    await topics.subscribe(keys.STOP_TOPIC, collector)
    assert await topics.kept(keys.STOP_TOPIC, b"m1") is False
    await topics.announce(keys.STOP_TOPIC, b"m1", keep=True)
    assert await topics.kept(keys.STOP_TOPIC, b"m1") is True
    await collector.wait_for(1)
    assert collector.received == [(keys.STOP_TOPIC, b"m1")]


async def test_an_announcement_not_asked_to_be_kept_is_not(topics: TopicBus) -> None:
    collector = Collector()
    await topics.subscribe(keys.SETTINGS_TOPIC, collector)
    await topics.announce(keys.SETTINGS_TOPIC, b"acme")
    await collector.wait_for(1)
    assert await topics.kept(keys.SETTINGS_TOPIC, b"acme") is False


async def test_a_handler_receives_only_the_topics_it_is_registered_for(broker: Broker) -> None:
    stops, settings, session = Collector(), Collector(), Collector()
    await broker.topics.subscribe(keys.STOP_TOPIC, stops)
    await broker.topics.subscribe(keys.SETTINGS_TOPIC, settings)
    await broker.event_log.subscribe(keys.topic("s"), session)
    await publish_chunks(broker.event_log, "s", 1)
    await broker.topics.announce(keys.SETTINGS_TOPIC, b"acme")
    await broker.topics.announce(keys.STOP_TOPIC, b"m1", keep=True)
    assert await stops.wait_for(1) == [(keys.STOP_TOPIC, b"m1")]
    assert await settings.wait_for(1) == [(keys.SETTINGS_TOPIC, b"acme")]
    assert [topic for topic, _ in await session.wait_for(1)] == [keys.topic("s")]


async def test_handlers_of_one_topic_receive_it_in_the_order_they_registered_until_they_leave(
    topics: TopicBus,
) -> None:
    order: list[str] = []
    first, second = Ordered("first", order), Ordered("second", order)
    await topics.subscribe(keys.SETTINGS_TOPIC, first)
    await topics.subscribe(keys.SETTINGS_TOPIC, second)
    await topics.announce(keys.SETTINGS_TOPIC, b"acme")
    await second.wait_for(1)
    assert order == ["first", "second"]
    await topics.unsubscribe(keys.SETTINGS_TOPIC, first)
    await topics.announce(keys.SETTINGS_TOPIC, b"globex")
    assert [data for _, data in await second.wait_for(2)] == [b"acme", b"globex"]
    assert first.received == [(keys.SETTINGS_TOPIC, b"acme")]


class Ordered(Collector):
    def __init__(self, name: str, order: list[str]) -> None:
        super().__init__()
        self.name, self.order = name, order

    def deliver(self, topic: str, data: bytes) -> None:
        self.order.append(self.name)
        super().deliver(topic, data)


def test_a_reconnect_tells_each_registered_handler_once_however_many_its_topics() -> None:
    router, many, one, gone = Router(), Collector(), Collector(), Collector()
    for topic in ("a", "b", "c"):
        router.add(topic, many)
    router.add("a", one)
    router.add("d", gone)
    router.remove("d", gone)
    router.resubscribed()
    assert (many.resubscriptions, one.resubscriptions, gone.resubscriptions) == (1, 1, 0)


async def test_redis_broker_resubscribes_and_tells_every_handler_after_a_restart(private_redis: RedisServer) -> None:
    broker = RedisBroker(private_redis.url)
    session, stops = Collector(), Collector()
    await broker.start()
    try:
        await broker.event_log.subscribe(keys.topic("s"), session)
        await broker.topics.subscribe(keys.STOP_TOPIC, stops)
        private_redis.restart()
        async with asyncio.timeout(10):
            while session.resubscriptions == 0 or stops.resubscriptions == 0:
                session.arrived.clear()
                await session.arrived.wait()
        await publish_chunks(broker.event_log, "s", 1)
        [envelope] = await session.envelopes(1)
        assert envelope.seq == 1  # a new epoch: the restarted Redis kept nothing
        await broker.topics.announce(keys.STOP_TOPIC, b"m1")
        assert await stops.wait_for(1) == [(keys.STOP_TOPIC, b"m1")]
    finally:
        await broker.close()


@pytest.mark.parametrize("kind", ["memory", "fakeredis"])
async def test_a_kept_announcement_is_forgotten_after_the_brokers_ttl(kind: str) -> None:
    """Stop requests one user can make by the thousand are kept only as long as history is, not forever."""
    if kind == "memory":
        chosen: Broker = MemoryBroker(ttl_seconds=0.2)
    else:
        fake = FakeRedisServer()
        chosen = RedisBroker(fake.url, ttl_seconds=1, client_class=fake.client_class())
    await chosen.start()
    try:
        await chosen.topics.announce(keys.STOP_TOPIC, b"m1", keep=True)
        assert await chosen.topics.kept(keys.STOP_TOPIC, b"m1") is True
        await until_forgotten(chosen.topics, keys.STOP_TOPIC, b"m1")
    finally:
        await chosen.close()


async def until_forgotten(topics: TopicBus, topic: str, data: bytes) -> None:
    for _ in range(100):  # the ttl is a time: polled, within 5 s
        if not await topics.kept(topic, data):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{data!r} still kept on {topic} after 5 s")
