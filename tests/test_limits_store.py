"""One limits contract, two implementations: memory, fakeredis, Redis (and Redis Cluster) pass the same tests.

`gateways` gives the limits as two gateways see them: the same object in memory,
two brokers on one server with Redis, so that a limit shared by every gateway is
proven shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from relay.broker.limits import Limits
from relay.broker.limits_redis import RedisLimits
from relay.broker.memory import MemoryBroker
from relay.broker.redis import RedisBroker
from schema import keys

from .fake_redis import FakeRedisServer
from .services import RedisCluster, RedisServer

BUCKET = keys.rate_key("write", "acme", "alice")
HOLDER = keys.sockets_key("acme", "alice")


@pytest.fixture(params=["memory", "fakeredis", "redis", "cluster"])
async def gateways(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Limits, Limits]]:
    if request.param == "memory":
        broker = MemoryBroker()
        yield broker.limits, broker.limits
        return
    if request.param == "fakeredis":
        fake = FakeRedisServer()
        brokers = [RedisBroker(fake.url, client_class=fake.client_class()) for _ in range(2)]
    else:
        cluster = request.param == "cluster"
        server: RedisServer | RedisCluster = request.getfixturevalue("redis_cluster" if cluster else "redis_server")
        server.flush()
        brokers = [RedisBroker(server.url, cluster=cluster) for _ in range(2)]
    for broker in brokers:
        await broker.start()
    yield brokers[0].limits, brokers[1].limits
    for broker in brokers:
        await broker.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    """Poll: what is awaited here is time passing on the store's clock, which has no event to wait on."""
    for _ in range(int(within / 0.01)):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"not within {within} s")


async def test_a_full_bucket_gives_its_burst_then_says_how_long_to_wait(gateways: tuple[Limits, Limits]) -> None:
    limits, _ = gateways
    assert [await limits.take(BUCKET, 10, 5) for _ in range(5)] == [0.0] * 5
    wait = await limits.take(BUCKET, 10, 5)
    assert 0 < wait <= 0.1, "one token comes back every 1/10 s"


async def test_a_bucket_refills_at_its_rate(gateways: tuple[Limits, Limits]) -> None:
    limits, _ = gateways
    assert await limits.take(BUCKET, 20, 1) == 0
    assert await limits.take(BUCKET, 20, 1) > 0

    async def refilled() -> bool:
        return await limits.take(BUCKET, 20, 1) == 0

    await eventually(refilled)


async def test_concurrent_takes_on_two_gateways_share_one_bucket(gateways: tuple[Limits, Limits]) -> None:
    first, second = gateways
    waits = await asyncio.gather(*(gateway.take(BUCKET, 0.01, 20) for gateway in (first, second) * 30))
    assert waits.count(0.0) == 20, "the burst is spent once, whichever gateway takes it"


async def test_each_user_and_bucket_has_its_own_tokens(gateways: tuple[Limits, Limits]) -> None:
    limits, _ = gateways
    for _ in range(3):
        await limits.take(BUCKET, 0.01, 3)
    assert await limits.take(BUCKET, 0.01, 3) > 0
    assert await limits.take(keys.rate_key("write", "acme", "bob"), 0.01, 3) == 0, "another user is not slowed"
    assert await limits.take(keys.rate_key("document", "acme", "alice"), 0.01, 3) == 0, "nor another bucket"
    assert await limits.take(keys.rate_key("write", "acme:", "alice"), 0.01, 3) == 0


async def test_slots_are_limited_across_gateways(gateways: tuple[Limits, Limits]) -> None:
    first, second = gateways
    assert await first.hold(HOLDER, "s1", 2, ttl=60)
    assert await second.hold(HOLDER, "s2", 2, ttl=60)
    assert not await first.hold(HOLDER, "s3", 2, ttl=60), "one more than the limit is refused"
    assert await second.hold(HOLDER, "s1", 2, ttl=60), "a slot already held is held again"
    assert await first.hold(keys.sockets_key("acme", "bob"), "s3", 2, ttl=60), "another user has slots of their own"
    await second.free(HOLDER, "s1")
    await second.free(HOLDER, "s1")
    assert await first.hold(HOLDER, "s3", 2, ttl=60), "a freed slot is free at once"


async def test_a_slot_nobody_keeps_frees_itself(gateways: tuple[Limits, Limits]) -> None:
    """The slots of a gateway that vanished expire."""
    first, second = gateways
    assert await first.hold(HOLDER, "lost", 1, ttl=0.2)
    assert not await second.hold(HOLDER, "s2", 1, ttl=60)

    async def freed() -> bool:
        return await second.hold(HOLDER, "s2", 1, ttl=60)

    await eventually(freed)


async def test_keep_gives_held_slots_their_time_and_never_revives_a_freed_one(gateways: tuple[Limits, Limits]) -> None:
    first, second = gateways
    assert await first.hold(HOLDER, "kept", 2, ttl=60)
    assert await first.hold(HOLDER, "freed", 2, ttl=60)
    await first.free(HOLDER, "freed")
    await first.keep({HOLDER: {"kept": 60, "freed": 60}, keys.sockets_key("acme", "nobody"): {}})
    assert await second.hold(HOLDER, "other", 2, ttl=60), "the freed slot stayed free"
    assert not await second.hold(HOLDER, "more", 2, ttl=60)
    await first.keep({HOLDER: {"kept": 0.05}})

    async def kept_slot_expired() -> bool:
        return await second.hold(HOLDER, "more", 2, ttl=60)

    await eventually(kept_slot_expired)


async def test_thousands_of_slots_are_kept_in_calls_of_at_most_500_and_all_stay_held(
    gateways: tuple[Limits, Limits],
) -> None:
    """One call renewing a gateway's every socket would hold Redis (and the gateway's loop) for tens of ms."""
    limits, _ = gateways
    slots = [f"s{i}" for i in range(1_200)]
    for slot in slots:
        assert await limits.hold(HOLDER, slot, 2_000, ttl=60)
    sizes: list[int] = []
    if isinstance(limits, RedisLimits):
        call_many = limits.calls.call_many

        async def recorded(calls: list[list[Any]]) -> list[Any]:
            sizes.extend((len(call) - 3) // 2 for call in calls)
            return await call_many(calls)

        limits.calls.call_many = recorded  # type: ignore[method-assign]
    await limits.keep({HOLDER: {slot: 60.0 for slot in slots}})
    assert sum(sizes) in (0, 1_200) and max(sizes, default=0) <= 500
    assert not await limits.hold(HOLDER, "one-more", 1_200, ttl=60), "every slot is still held"
