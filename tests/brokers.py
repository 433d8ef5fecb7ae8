"""What the broker roles' contract suites share: every broker as a fixture, its roles, a collecting handler.

Each role's suite (`test_event_log.py`, `test_job_queue.py`, `test_grant_store.py`, `test_topic_bus.py`,
`test_document_bus.py`) takes the role it tests from `broker`: memory, fakeredis, Redis and Redis Cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from relay.broker.base import Broker
from relay.broker.fencing import FIRST_LEASE
from relay.broker.log import EventLog
from relay.broker.memory import MemoryBroker
from relay.broker.redis import RedisBroker
from schema import events

from .fake_redis import FakeRedisServer
from .services import RedisCluster, RedisServer


class Collector:
    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.resubscriptions = 0
        self.arrived = asyncio.Event()

    def deliver(self, topic: str, data: bytes) -> None:
        self.received.append((topic, data))
        self.arrived.set()

    def resubscribed(self) -> None:
        self.resubscriptions += 1
        self.arrived.set()

    async def wait_for(self, count: int) -> list[tuple[str, bytes]]:
        async with asyncio.timeout(10):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received

    async def envelopes(self, count: int) -> list[events.Envelope]:
        return [events.decode(data) for _, data in await self.wait_for(count)]


@pytest.fixture(params=["memory", "fakeredis", "redis", "cluster"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    """Each contract test on each broker; on fakeredis too, so that it runs where no `redis-server` does."""
    if request.param == "memory":
        chosen: Broker = MemoryBroker(log_maxlen=50)
    elif request.param == "fakeredis":
        fake = FakeRedisServer()
        chosen = RedisBroker(fake.url, log_maxlen=50, client_class=fake.client_class())
    else:
        server: RedisServer | RedisCluster = request.getfixturevalue(
            "redis_cluster" if request.param == "cluster" else "redis_server"
        )
        server.flush()
        chosen = RedisBroker(server.url, log_maxlen=50, cluster=request.param == "cluster")
    await chosen.start()
    yield chosen
    await chosen.close()


@pytest.fixture
def event_log(broker: Broker) -> EventLog:
    return broker.event_log


async def publish_chunks(event_log: EventLog, session_id: str, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        await event_log.publish(session_id, events.STREAMING_CHUNK, "m1", {"content": f"<{i}>"})


async def start_generation(event_log: EventLog, session_id: str, message_id: str, lease: int = FIRST_LEASE) -> None:
    await event_log.publish(session_id, events.MESSAGE_PROCESSING, message_id, {"session_id": session_id}, lease=lease)
    await event_log.publish(session_id, events.STREAMING_CHUNK, message_id, {"content": "<0>"}, lease=lease)


async def replayed(event_log: EventLog, session_id: str, since: tuple[str, int]) -> list[bytes] | None:
    return (await event_log.position(session_id, since)).replayed
