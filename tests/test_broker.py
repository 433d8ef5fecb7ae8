"""One contract, two brokers: memory and Redis pass the same tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis

from relay.broker.base import Broker
from relay.broker.fencing import FIRST_LEASE, Fenced, HistoryLost
from relay.broker.memory import MemoryBroker
from relay.broker.redis import RedisBroker
from schema import events, keys

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


async def publish_chunks(broker: Broker, session_id: str, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        await broker.publish(session_id, events.STREAMING_CHUNK, "m1", {"content": f"<{i}>"})


async def test_seq_grows_by_one_within_an_epoch(broker: Broker) -> None:
    positions = [await broker.publish("s", events.STREAMING_STATUS, "m1", {"text": "t"}) for _ in range(5)]
    assert [seq for seq, _ in positions] == [1, 2, 3, 4, 5]
    assert len({epoch for _, epoch in positions}) == 1


async def test_sessions_have_their_own_sequences(broker: Broker) -> None:
    assert (await broker.publish("a", events.STREAMING_STATUS, "m", {"text": "t"}))[0] == 1
    assert (await broker.publish("b", events.STREAMING_STATUS, "m", {"text": "t"}))[0] == 1


async def test_a_retried_publish_with_the_same_id_is_published_once(broker: Broker) -> None:
    first = await broker.publish("s", events.STREAMING_CHUNK, "m1", {"content": "x"}, publish_id="p1")
    again = await broker.publish("s", events.STREAMING_CHUNK, "m1", {"content": "x"}, publish_id="p1")
    assert first == again
    assert (await broker.snapshot("s")).seq == 1


async def test_snapshot_follows_the_in_flight_message(broker: Broker) -> None:
    await broker.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"})
    await broker.publish("s", events.STREAMING_STATUS, "m1", {"text": "Thinking…"})
    await broker.publish("s", events.STREAMING_CHANGES, "m1", {"changes": {"yaml": "a: 1"}, "change_id": "c1",
                                                                "applied": False})  # fmt: skip
    await publish_chunks(broker, "s", 3)
    snapshot = await broker.snapshot("s")
    assert snapshot.seq == 6
    assert snapshot.streaming is not None
    assert snapshot.streaming.message_id == "m1"
    assert snapshot.streaming.content == "<0><1><2>"
    assert snapshot.streaming.status == "Thinking…"
    assert snapshot.streaming.changes == [{"change_id": "c1", "changes": {"yaml": "a: 1"}, "applied": False}]
    await broker.publish("s", events.NEW_MESSAGE, "m1", {"message": {}})
    finished = await broker.snapshot("s")
    assert finished.streaming is None
    assert (finished.seq, finished.epoch) == (7, snapshot.epoch)


async def start_generation(broker: Broker, session_id: str, message_id: str, lease: int = FIRST_LEASE) -> None:
    await broker.publish(session_id, events.MESSAGE_PROCESSING, message_id, {"session_id": session_id}, lease=lease)
    await broker.publish(session_id, events.STREAMING_CHUNK, message_id, {"content": "<0>"}, lease=lease)


async def test_a_takeover_fences_the_lease_it_superseded(broker: Broker) -> None:
    await start_generation(broker, "s", "m1")
    snapshot = await broker.snapshot("s")
    takeover = snapshot.takeover_lease("m1")
    assert takeover > FIRST_LEASE
    await broker.publish("s", events.STREAMING_ERROR, "m1", {"error": "lost", "partial_content": "<0>"}, lease=takeover)
    with pytest.raises(Fenced):
        await broker.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<late>"}, lease=FIRST_LEASE)
    seq = (await broker.snapshot("s")).seq
    assert seq == 3, "a refused event takes no seq"
    assert (await broker.snapshot("s")).streamed("m1") == ("<0>", [])


async def test_no_streaming_event_of_a_message_is_accepted_after_its_new_message(broker: Broker) -> None:
    await start_generation(broker, "s", "m1")
    await broker.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE + 1)
    refused = [
        (events.STREAMING_CHUNK, {"content": "x"}),
        (events.STREAMING_STATUS, {"text": "t"}),
        (events.STREAMING_CHANGES, {"changes": {"yaml": "a: 1"}, "change_id": "c", "applied": False}),
        (events.STREAMING_TOOL, {"call_id": "c", "name": "n", "arguments": {}, "status": "finished"}),
        (events.STREAMING_ERROR, {"error": "e", "partial_content": ""}),
        (events.MESSAGE_PROCESSING, {"session_id": "s"}),
    ]
    for event, payload in refused:
        for lease in (FIRST_LEASE, FIRST_LEASE + 5):
            with pytest.raises(Fenced):
                await broker.publish("s", event, "m1", payload, lease=lease)
    assert (await broker.snapshot("s")).seq == 3
    # a better record may still replace the final, with one more new_message of the same id
    assert (await broker.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE))[0] == 4


async def test_a_silent_generation_cannot_write_into_the_next_one(broker: Broker) -> None:
    await start_generation(broker, "s", "m1")
    await broker.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE + 1)
    await start_generation(broker, "s", "m2")
    with pytest.raises(Fenced):
        await broker.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<late>"}, lease=FIRST_LEASE)
    await broker.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE)  # a better record
    snapshot = await broker.snapshot("s")
    assert snapshot.streamed("m2") == ("<0>", []), "an older message's end leaves the one in flight alone"
    await broker.publish("s", events.STREAMING_CHUNK, "m2", {"content": "<1>"}, lease=FIRST_LEASE)


@pytest.mark.parametrize("joined_first", [False, True])
async def test_a_streamed_event_into_a_lost_history_is_refused_until_its_message_starts_again(
    broker: Broker, joined_first: bool
) -> None:
    """Redis lost the session's history (a restart without its data, or it expired), and maybe a tab rejoined
    first: the generation's next chunk is refused as `HistoryLost`, writing nothing, so that the generation can
    check whether its message is still its own and publish it so far again, from its start."""
    if joined_first:
        await broker.position("s", None, start=True)
    with pytest.raises(HistoryLost):
        await broker.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<5>"}, lease=FIRST_LEASE)
    assert (await broker.position("s", None)).snapshot.seq == 0
    await broker.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"}, lease=FIRST_LEASE)
    await broker.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<0>…<5>"}, lease=FIRST_LEASE)
    assert (await broker.snapshot("s")).streamed("m1") == ("<0>…<5>", [])


async def test_events_without_a_lease_are_never_fenced(broker: Broker) -> None:
    await start_generation(broker, "s", "m1")
    await broker.publish("s", events.NEW_MESSAGE, "m1", {"message": {}})
    await broker.publish("s", events.CHANGES_APPLIED, "", {"change_id": "c", "user_id": "u"})
    await broker.publish("s", events.SESSION_UPDATED, "", {"session": {}})
    assert (await broker.snapshot("s")).seq == 5


async def test_a_replay_gives_every_event_its_message_id_across_generations(broker: Broker) -> None:
    await start_generation(broker, "s", "m1")  # seq 1, 2
    await broker.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<1>"}, lease=FIRST_LEASE)
    await broker.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE)
    await broker.publish("s", events.USER_MESSAGE, "q2", {"message": {}})
    await broker.publish("s", events.CHANGES_APPLIED, "", {"change_id": "c", "user_id": "u"})
    await start_generation(broker, "s", "m2")  # seq 7, 8
    await broker.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE)  # a better record
    await broker.publish("s", events.STREAMING_CHUNK, "m2", {"content": "<1>"}, lease=FIRST_LEASE)
    epoch = (await broker.snapshot("s")).epoch
    for since in range(10):
        envelopes = [events.decode(data) for data in await replayed(broker, "s", (epoch, since)) or []]
        expected = ["m1", "m1", "m1", "m1", "q2", "", "m2", "m2", "m1", "m2"][since:]
        assert [e.message_id for e in envelopes] == expected, since
        assert [e.seq for e in envelopes] == list(range(since + 1, 11))
        assert all(e.epoch == epoch for e in envelopes)
    chunk = events.decode((await replayed(broker, "s", (epoch, 2)) or [])[0])
    assert (chunk.event, chunk.payload) == (events.STREAMING_CHUNK, {"content": "<1>"})


async def test_a_replay_names_the_message_whose_start_was_trimmed_away(broker: Broker) -> None:
    await start_generation(broker, "s", "m1")
    for i in range(100):  # the log keeps 50: the start is gone
        await broker.publish("s", events.STREAMING_CHUNK, "m1", {"content": f"<{i}>"}, lease=FIRST_LEASE)
    epoch = (await broker.snapshot("s")).epoch
    envelopes = [events.decode(data) for data in await replayed(broker, "s", (epoch, 90)) or []]
    assert [e.message_id for e in envelopes] == ["m1"] * 12


async def test_a_log_is_capped_in_bytes_and_keeps_the_newest_events(broker: Broker) -> None:
    big = {"session": {"context": {"code": "x" * 40_000}}}
    for _ in range(40):  # 1.6 MB in all, over the 1 MiB cap
        await broker.publish("s", events.SESSION_UPDATED, "", big)
    snapshot = await broker.snapshot("s")
    assert await replayed(broker, "s", (snapshot.epoch, 1)) is None, "the oldest went"
    kept = await replayed(broker, "s", (snapshot.epoch, 20))
    assert kept is not None and len(kept) == 20
    assert sum(len(data) for data in kept) < 1024 * 1024


async def test_the_snapshot_holds_the_newest_step_of_each_tool_call_of_the_message_in_flight(broker: Broker) -> None:
    await broker.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"})
    search = {"call_id": "t1", "name": "search_docs", "arguments": {"query": "cron"}}
    await broker.publish("s", events.STREAMING_TOOL, "m1", {**search, "status": "started"})
    await broker.publish("s", events.STREAMING_CHANGES, "m1", {"changes": {"yaml": "a: 1"}, "change_id": "c1",
                                                                "applied": False})  # fmt: skip
    await broker.publish("s", events.STREAMING_TOOL, "m1", {"call_id": "t2", "name": "fetch", "status": "started"})
    await broker.publish("s", events.STREAMING_TOOL, "m1", {**search, "status": "finished", "result_preview": "3"})
    position = await broker.position("s", ("another-epoch", 2))
    for streaming in ((await broker.snapshot("s")).streaming, position.snapshot.streaming):
        assert streaming is not None
        assert streaming.tools == [
            {**search, "status": "finished", "result_preview": "3"},
            {"call_id": "t2", "name": "fetch", "status": "started"},
        ]
        assert streaming.changes == [{"change_id": "c1", "changes": {"yaml": "a: 1"}, "applied": False}]
    await broker.publish("s", events.MESSAGE_PROCESSING, "m2", {"session_id": "s"})
    assert (await broker.snapshot("s")).streaming.tools == [], "the next message starts without steps"


async def replayed(broker: Broker, session_id: str, since: tuple[str, int]) -> list[bytes] | None:
    return (await broker.position(session_id, since)).replayed


async def test_a_position_after_a_since_holds_what_followed_it(broker: Broker) -> None:
    await publish_chunks(broker, "s", 10)
    epoch = (await broker.snapshot("s")).epoch
    position = await broker.position("s", (epoch, 6))
    assert position.replayed is not None
    assert [events.decode(data).seq for data in position.replayed] == [7, 8, 9, 10]
    assert (position.snapshot.epoch, position.snapshot.seq, position.snapshot.streaming) == (epoch, 10, None)
    assert await replayed(broker, "s", (epoch, 10)) == []


async def test_a_position_refuses_a_trimmed_log_a_future_position_or_another_epoch(broker: Broker) -> None:
    await publish_chunks(broker, "s", 400)
    epoch = (await broker.snapshot("s")).epoch
    assert await replayed(broker, "s", (epoch, 1)) is None
    assert await replayed(broker, "s", (epoch, 401)) is None
    assert await replayed(broker, "s", ("another-epoch", 399)) is None
    assert await replayed(broker, "s", (epoch, 399)) is not None


async def test_a_position_that_cannot_replay_holds_the_snapshot(broker: Broker) -> None:
    await broker.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"})
    await publish_chunks(broker, "s", 3)
    position = await broker.position("s", ("another-epoch", 2))
    assert position.replayed is None
    assert position.snapshot.seq == 4
    assert position.snapshot.streaming is not None
    assert position.snapshot.streaming.content == "<0><1><2>"


async def test_a_position_holds_the_page_and_its_tag(broker: Broker) -> None:
    first = await broker.position("s", None, start=True)
    assert (first.page, first.snapshot.seq, first.snapshot.page_seq) == (None, 0, 0)
    await broker.store_page("s", b"page")
    await publish_chunks(broker, "s", 2)
    await broker.publish("s", events.SESSION_UPDATED, "", {"session": {}})
    await publish_chunks(broker, "s", 1)
    position = await broker.position("s", (first.snapshot.epoch, 4))
    assert (position.page, position.snapshot.epoch, position.snapshot.page_seq) == (b"page", first.snapshot.epoch, 3)


async def test_a_first_position_starts_the_epoch_later_events_go_into(broker: Broker) -> None:
    position = await broker.position("fresh", None, start=True)
    assert (position.snapshot.seq, position.replayed) == (0, None)
    await publish_chunks(broker, "fresh", 1)
    assert await replayed(broker, "fresh", (position.snapshot.epoch, 0)) is not None


async def test_a_position_starts_no_epoch_unless_asked(broker: Broker) -> None:
    """A join checks access before the epoch is started: a made-up session id leaves nothing behind."""
    for _ in range(2):
        position = await broker.position("made-up", ("some-epoch", 3))
        assert (position.snapshot.epoch, position.snapshot.seq, position.replayed, position.page) == ("", 0, None, None)


async def test_a_snapshot_starts_no_epoch_when_asked_not_to(broker: Broker) -> None:
    """A claim looks at the answer in flight without leaving anything behind for a session with no history."""
    assert (await broker.snapshot("quiet", start=False)).epoch == ""
    assert (await broker.position("quiet", None)).snapshot.epoch == ""
    await start_generation(broker, "s", "m1")
    assert (await broker.snapshot("s", start=False)).streamed("m1") == ("<0>", [])


async def test_subscribers_receive_published_events_in_order(broker: Broker) -> None:
    collector = Collector()
    broker.attach(collector)
    await broker.subscribe(keys.topic("s"))
    await publish_chunks(broker, "s", 20)
    received = await collector.envelopes(20)
    assert [e.seq for e in received] == list(range(1, 21))
    await broker.unsubscribe(keys.topic("s"))
    # Redis may read a PUBLISH on another connection before this UNSUBSCRIBE: a subscription sent after it on
    # the same connection (one slot: the topic is the barrier's hash tag) is confirmed once Redis dropped "s".
    await broker.subscribe(f"{{{keys.topic('s')}}}:barrier")
    await publish_chunks(broker, "s", 1)  # seq 21, to nobody
    await broker.subscribe(keys.topic("s"))
    await publish_chunks(broker, "s", 1)  # seq 22: had 21 been delivered, it would have come first
    received = await collector.envelopes(21)
    assert [e.seq for e in received] == [*range(1, 21), 22]


async def test_claims_grant_once_per_session_and_change(broker: Broker) -> None:
    results = await asyncio.gather(*(broker.grant("s", "c1") for _ in range(10)))
    assert sorted(results) == [False] * 9 + [True]
    assert await broker.grant("other", "c1") is True


async def test_a_released_claim_is_granted_again_once(broker: Broker) -> None:
    assert await broker.grant("s", "c1") is True
    await broker.release("s", "c1")
    results = await asyncio.gather(*(broker.grant("s", "c1") for _ in range(5)))
    assert sorted(results) == [False] * 4 + [True]
    assert await broker.grant("s", "c2") is True  # a release touches only its own change


async def test_jobs_are_delivered_once_and_acknowledged(broker: Broker) -> None:
    job_id = await broker.enqueue({"session_id": "s", "message_id": "m"})
    [job] = await broker.take("w1", 10, block_seconds=1)
    assert job.id == job_id and job.fields == {"session_id": "s", "message_id": "m"}
    assert await broker.take("w2", 10, block_seconds=0.1) == []
    assert await broker.counts() == (0, 1)
    await broker.ack(job.id)
    assert await broker.counts() == (0, 0)


async def test_stop_requests_are_remembered_and_announced(broker: Broker) -> None:
    collector = Collector()
    broker.attach(collector)
    await broker.subscribe(keys.STOP_TOPIC)
    assert await broker.stop_requested("m1") is False
    await broker.request_stop("m1")
    assert await broker.stop_requested("m1") is True
    await collector.wait_for(1)
    assert collector.received == [(keys.STOP_TOPIC, b"m1")]


async def test_redis_jobs_of_a_silent_worker_are_taken_over(redis_server: RedisServer) -> None:
    redis_server.flush()
    broker = RedisBroker(redis_server.url)
    await broker.start()
    try:
        await broker.enqueue({"session_id": "s", "message_id": "m"})
        [job] = await broker.take("lost-worker", 1, block_seconds=1)
        assert await broker.take_over("rescuer", 0.5, 10) == []
        await asyncio.sleep(0.6)
        await broker.keep_alive("lost-worker", [job.id])  # still alive after all
        assert await broker.take_over("rescuer", 0.5, 10) == []
        await asyncio.sleep(0.6)
        [taken] = await broker.take_over("rescuer", 0.5, 10)
        assert taken == job
    finally:
        await broker.close()


async def test_a_redis_job_read_blocked_when_the_stream_vanishes_goes_on(redis_server: RedisServer) -> None:
    """FLUSHALL (or a lost stream) while a worker waits for jobs: its read is answered UNBLOCKED, not a crash."""
    redis_server.flush()
    broker = RedisBroker(redis_server.url)
    await broker.start()
    client = redis.Redis.from_url(redis_server.url)
    try:
        waiting = asyncio.create_task(broker.take("w1", 1, block_seconds=30))
        async with asyncio.timeout(10):
            for _ in range(1000):  # poll: the blocked read shows only in Redis, in its list of clients
                if any("b" in c["flags"] and c["cmd"] == "xreadgroup" for c in await client.client_list()):
                    break
                await asyncio.sleep(0.01)
            await client.flushall()
            await broker.enqueue({"session_id": "s", "message_id": "m"})
            [job] = await waiting
        assert job.fields == {"session_id": "s", "message_id": "m"}
    finally:
        await client.aclose()
        await broker.close()


async def test_redis_broker_resubscribes_and_says_so_after_a_restart(private_redis: RedisServer) -> None:
    broker = RedisBroker(private_redis.url)
    collector = Collector()
    broker.attach(collector)
    await broker.start()
    try:
        await broker.subscribe(keys.topic("s"))
        private_redis.restart()
        async with asyncio.timeout(10):
            while collector.resubscriptions == 0:
                collector.arrived.clear()
                await collector.arrived.wait()
        await publish_chunks(broker, "s", 1)
        [envelope] = await collector.envelopes(1)
        assert envelope.seq == 1  # a new epoch: the restarted Redis kept nothing
    finally:
        await broker.close()


async def test_a_redis_broker_publishes_before_start_is_called(redis_server: RedisServer) -> None:
    redis_server.flush()
    broker = RedisBroker(redis_server.url)
    try:
        assert await asyncio.wait_for(broker.publish("s", events.STREAMING_STATUS, "m", {"text": "t"}), 5) == (
            1,
            (await broker.snapshot("s")).epoch,
        )
    finally:
        await broker.close()


async def test_concurrent_publishes_of_many_sessions_all_land_in_order(broker: Broker) -> None:
    await asyncio.gather(*(publish_chunks(broker, f"s{k}", 30) for k in range(20)))
    for k in range(20):
        events_ = await replayed(broker, f"s{k}", ((await broker.snapshot(f"s{k}")).epoch, 0))
        assert events_ is not None
        assert [events.decode(d).payload["content"] for d in events_] == [f"<{i}>" for i in range(30)]


async def test_more_calls_at_once_than_the_pool_has_connections_all_succeed(broker: Broker) -> None:
    """A reconnect storm's claims and page writes: each waits for a connection instead of failing with
    "Too many connections" (redis-py's pool holds 100) and being told Redis is unreachable."""
    results = await asyncio.gather(*(broker.grant(f"s{i % 50}", f"c{i}") for i in range(1000)))
    assert results == [True] * 1000
