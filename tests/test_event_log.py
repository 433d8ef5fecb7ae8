"""The event log role's contract (`relay.broker.log`): memory and Redis (and Redis Cluster) pass the same tests."""

from __future__ import annotations

import asyncio

import pytest

from relay.broker.fencing import FIRST_LEASE, Fenced, HistoryLost
from relay.broker.log import EventLog
from relay.broker.redis import RedisBroker
from schema import events, keys

from . import brokers
from .brokers import Collector, publish_chunks, replayed, start_generation
from .services import RedisServer

broker, event_log = brokers.broker, brokers.event_log


async def test_seq_grows_by_one_within_an_epoch(event_log: EventLog) -> None:
    positions = [await event_log.publish("s", events.STREAMING_STATUS, "m1", {"text": "t"}) for _ in range(5)]
    assert [seq for seq, _ in positions] == [1, 2, 3, 4, 5]
    assert len({epoch for _, epoch in positions}) == 1


async def test_sessions_have_their_own_sequences(event_log: EventLog) -> None:
    assert (await event_log.publish("a", events.STREAMING_STATUS, "m", {"text": "t"}))[0] == 1
    assert (await event_log.publish("b", events.STREAMING_STATUS, "m", {"text": "t"}))[0] == 1


async def test_a_retried_publish_with_the_same_id_is_published_once(event_log: EventLog) -> None:
    first = await event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "x"}, publish_id="p1")
    again = await event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "x"}, publish_id="p1")
    assert first == again
    assert (await event_log.snapshot("s")).seq == 1


async def test_snapshot_follows_the_in_flight_message(event_log: EventLog) -> None:
    await event_log.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"})
    await event_log.publish("s", events.STREAMING_STATUS, "m1", {"text": "Thinking…"})
    await event_log.publish("s", events.STREAMING_CHANGES, "m1", {"changes": {"yaml": "a: 1"}, "change_id": "c1",
                                                                "applied": False})  # fmt: skip
    await publish_chunks(event_log, "s", 3)
    snapshot = await event_log.snapshot("s")
    assert snapshot.seq == 6
    assert snapshot.streaming is not None
    assert snapshot.streaming.message_id == "m1"
    assert snapshot.streaming.content == "<0><1><2>"
    assert snapshot.streaming.status == "Thinking…"
    assert snapshot.streaming.changes == [{"change_id": "c1", "changes": {"yaml": "a: 1"}, "applied": False}]
    await event_log.publish("s", events.NEW_MESSAGE, "m1", {"message": {}})
    finished = await event_log.snapshot("s")
    assert finished.streaming is None
    assert (finished.seq, finished.epoch) == (7, snapshot.epoch)


async def test_a_takeover_fences_the_lease_it_superseded(event_log: EventLog) -> None:
    await start_generation(event_log, "s", "m1")
    snapshot = await event_log.snapshot("s")
    takeover = snapshot.takeover_lease("m1")
    assert takeover > FIRST_LEASE
    await event_log.publish(
        "s", events.STREAMING_ERROR, "m1", {"error": "lost", "partial_content": "<0>"}, lease=takeover
    )
    with pytest.raises(Fenced):
        await event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<late>"}, lease=FIRST_LEASE)
    seq = (await event_log.snapshot("s")).seq
    assert seq == 3, "a refused event takes no seq"
    assert (await event_log.snapshot("s")).streamed("m1") == ("<0>", [])


async def test_no_streaming_event_of_a_message_is_accepted_after_its_new_message(event_log: EventLog) -> None:
    await start_generation(event_log, "s", "m1")
    await event_log.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE + 1)
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
                await event_log.publish("s", event, "m1", payload, lease=lease)
    assert (await event_log.snapshot("s")).seq == 3
    # a better record may still replace the final, with one more new_message of the same id
    assert (await event_log.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE))[0] == 4


async def test_a_silent_generation_cannot_write_into_the_next_one(event_log: EventLog) -> None:
    await start_generation(event_log, "s", "m1")
    await event_log.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE + 1)
    await start_generation(event_log, "s", "m2")
    with pytest.raises(Fenced):
        await event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<late>"}, lease=FIRST_LEASE)
    await event_log.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE)  # a better record
    snapshot = await event_log.snapshot("s")
    assert snapshot.streamed("m2") == ("<0>", []), "an older message's end leaves the one in flight alone"
    await event_log.publish("s", events.STREAMING_CHUNK, "m2", {"content": "<1>"}, lease=FIRST_LEASE)


@pytest.mark.parametrize("joined_first", [False, True])
async def test_a_streamed_event_into_a_lost_history_is_refused_until_its_message_starts_again(
    event_log: EventLog, joined_first: bool
) -> None:
    """Redis lost the session's history (a restart without its data, or it expired), and maybe a tab rejoined
    first: the generation's next chunk is refused as `HistoryLost`, writing nothing, so that the generation can
    check whether its message is still its own and publish it so far again, from its start."""
    if joined_first:
        await event_log.position("s", None, start=True)
    with pytest.raises(HistoryLost):
        await event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<5>"}, lease=FIRST_LEASE)
    assert (await event_log.position("s", None)).snapshot.seq == 0
    await event_log.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"}, lease=FIRST_LEASE)
    await event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<0>…<5>"}, lease=FIRST_LEASE)
    assert (await event_log.snapshot("s")).streamed("m1") == ("<0>…<5>", [])


async def test_events_without_a_lease_are_never_fenced(event_log: EventLog) -> None:
    await start_generation(event_log, "s", "m1")
    await event_log.publish("s", events.NEW_MESSAGE, "m1", {"message": {}})
    await event_log.publish("s", events.CHANGES_APPLIED, "", {"change_id": "c", "user_id": "u"})
    await event_log.publish("s", events.SESSION_UPDATED, "", {"session": {}})
    assert (await event_log.snapshot("s")).seq == 5


async def test_a_replay_gives_every_event_its_message_id_across_generations(event_log: EventLog) -> None:
    await start_generation(event_log, "s", "m1")  # seq 1, 2
    await event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": "<1>"}, lease=FIRST_LEASE)
    await event_log.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE)
    await event_log.publish("s", events.USER_MESSAGE, "q2", {"message": {}})
    await event_log.publish("s", events.CHANGES_APPLIED, "", {"change_id": "c", "user_id": "u"})
    await start_generation(event_log, "s", "m2")  # seq 7, 8
    await event_log.publish("s", events.NEW_MESSAGE, "m1", {"message": {}}, lease=FIRST_LEASE)  # a better record
    await event_log.publish("s", events.STREAMING_CHUNK, "m2", {"content": "<1>"}, lease=FIRST_LEASE)
    epoch = (await event_log.snapshot("s")).epoch
    for since in range(10):
        envelopes = [events.decode(data) for data in await replayed(event_log, "s", (epoch, since)) or []]
        expected = ["m1", "m1", "m1", "m1", "q2", "", "m2", "m2", "m1", "m2"][since:]
        assert [e.message_id for e in envelopes] == expected, since
        assert [e.seq for e in envelopes] == list(range(since + 1, 11))
        assert all(e.epoch == epoch for e in envelopes)
    chunk = events.decode((await replayed(event_log, "s", (epoch, 2)) or [])[0])
    assert (chunk.event, chunk.payload) == (events.STREAMING_CHUNK, {"content": "<1>"})


async def test_a_replay_names_the_message_whose_start_was_trimmed_away(event_log: EventLog) -> None:
    await start_generation(event_log, "s", "m1")
    for i in range(100):  # the log keeps 50: the start is gone
        await event_log.publish("s", events.STREAMING_CHUNK, "m1", {"content": f"<{i}>"}, lease=FIRST_LEASE)
    epoch = (await event_log.snapshot("s")).epoch
    envelopes = [events.decode(data) for data in await replayed(event_log, "s", (epoch, 90)) or []]
    assert [e.message_id for e in envelopes] == ["m1"] * 12


async def test_a_log_is_capped_in_bytes_and_keeps_the_newest_events(event_log: EventLog) -> None:
    big = {"session": {"context": {"code": "x" * 40_000}}}
    for _ in range(40):  # 1.6 MB in all, over the 1 MiB cap
        await event_log.publish("s", events.SESSION_UPDATED, "", big)
    snapshot = await event_log.snapshot("s")
    assert await replayed(event_log, "s", (snapshot.epoch, 1)) is None, "the oldest went"
    kept = await replayed(event_log, "s", (snapshot.epoch, 20))
    assert kept is not None and len(kept) == 20
    assert sum(len(data) for data in kept) < 1024 * 1024


async def test_the_snapshot_holds_the_newest_step_of_each_tool_call_of_the_message_in_flight(
    event_log: EventLog,
) -> None:
    await event_log.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"})
    search = {"call_id": "t1", "name": "search_docs", "arguments": {"query": "cron"}}
    await event_log.publish("s", events.STREAMING_TOOL, "m1", {**search, "status": "started"})
    await event_log.publish("s", events.STREAMING_CHANGES, "m1", {"changes": {"yaml": "a: 1"}, "change_id": "c1",
                                                                "applied": False})  # fmt: skip
    await event_log.publish("s", events.STREAMING_TOOL, "m1", {"call_id": "t2", "name": "fetch", "status": "started"})
    await event_log.publish("s", events.STREAMING_TOOL, "m1", {**search, "status": "finished", "result_preview": "3"})
    position = await event_log.position("s", ("another-epoch", 2))
    for streaming in ((await event_log.snapshot("s")).streaming, position.snapshot.streaming):
        assert streaming is not None
        assert streaming.tools == [
            {**search, "status": "finished", "result_preview": "3"},
            {"call_id": "t2", "name": "fetch", "status": "started"},
        ]
        assert streaming.changes == [{"change_id": "c1", "changes": {"yaml": "a: 1"}, "applied": False}]
    await event_log.publish("s", events.MESSAGE_PROCESSING, "m2", {"session_id": "s"})
    assert (await event_log.snapshot("s")).streaming.tools == [], "the next message starts without steps"


async def test_a_position_after_a_since_holds_what_followed_it(event_log: EventLog) -> None:
    await publish_chunks(event_log, "s", 10)
    epoch = (await event_log.snapshot("s")).epoch
    position = await event_log.position("s", (epoch, 6))
    assert position.replayed is not None
    assert [events.decode(data).seq for data in position.replayed] == [7, 8, 9, 10]
    assert (position.snapshot.epoch, position.snapshot.seq, position.snapshot.streaming) == (epoch, 10, None)
    assert await replayed(event_log, "s", (epoch, 10)) == []


async def test_a_position_refuses_a_trimmed_log_a_future_position_or_another_epoch(event_log: EventLog) -> None:
    await publish_chunks(event_log, "s", 400)
    epoch = (await event_log.snapshot("s")).epoch
    assert await replayed(event_log, "s", (epoch, 1)) is None
    assert await replayed(event_log, "s", (epoch, 401)) is None
    assert await replayed(event_log, "s", ("another-epoch", 399)) is None
    assert await replayed(event_log, "s", (epoch, 399)) is not None


async def test_a_position_that_cannot_replay_holds_the_snapshot(event_log: EventLog) -> None:
    await event_log.publish("s", events.MESSAGE_PROCESSING, "m1", {"session_id": "s"})
    await publish_chunks(event_log, "s", 3)
    position = await event_log.position("s", ("another-epoch", 2))
    assert position.replayed is None
    assert position.snapshot.seq == 4
    assert position.snapshot.streaming is not None
    assert position.snapshot.streaming.content == "<0><1><2>"


async def test_a_position_holds_the_page_and_its_tag(event_log: EventLog) -> None:
    first = await event_log.position("s", None, start=True)
    assert (first.attachment, first.snapshot.seq, first.snapshot.attachment_seq) == (None, 0, 0)
    await event_log.store_attachment("s", b"page")
    await publish_chunks(event_log, "s", 2)
    await event_log.publish("s", events.SESSION_UPDATED, "", {"session": {}})
    await publish_chunks(event_log, "s", 1)
    position = await event_log.position("s", (first.snapshot.epoch, 4))
    assert (position.attachment, position.snapshot.epoch, position.snapshot.attachment_seq) == (
        b"page",
        first.snapshot.epoch,
        3,
    )


async def test_a_first_position_starts_the_epoch_later_events_go_into(event_log: EventLog) -> None:
    position = await event_log.position("fresh", None, start=True)
    assert (position.snapshot.seq, position.replayed) == (0, None)
    await publish_chunks(event_log, "fresh", 1)
    assert await replayed(event_log, "fresh", (position.snapshot.epoch, 0)) is not None


async def test_a_position_starts_no_epoch_unless_asked(event_log: EventLog) -> None:
    """A join checks access before the epoch is started: a made-up session id leaves nothing behind."""
    for _ in range(2):
        position = await event_log.position("made-up", ("some-epoch", 3))
        assert (position.snapshot.epoch, position.snapshot.seq, position.replayed, position.attachment) == (
            "",
            0,
            None,
            None,
        )


async def test_a_snapshot_starts_no_epoch_when_asked_not_to(event_log: EventLog) -> None:
    """A claim looks at the answer in flight without leaving anything behind for a session with no history."""
    assert (await event_log.snapshot("quiet", start=False)).epoch == ""
    assert (await event_log.position("quiet", None)).snapshot.epoch == ""
    await start_generation(event_log, "s", "m1")
    assert (await event_log.snapshot("s", start=False)).streamed("m1") == ("<0>", [])


async def test_subscribers_receive_published_events_in_order(event_log: EventLog) -> None:
    collector = Collector()
    await event_log.subscribe(keys.topic("s"), collector)
    await publish_chunks(event_log, "s", 20)
    received = await collector.envelopes(20)
    assert [e.seq for e in received] == list(range(1, 21))
    await event_log.unsubscribe(keys.topic("s"), collector)
    # Redis may read a PUBLISH on another connection before this UNSUBSCRIBE: a subscription sent after it on
    # the same connection (one slot: the topic is the barrier's hash tag) is confirmed once Redis dropped "s".
    await event_log.subscribe(f"{{{keys.topic('s')}}}:barrier", collector)
    await publish_chunks(event_log, "s", 1)  # seq 21, to nobody
    await event_log.subscribe(keys.topic("s"), collector)
    await publish_chunks(event_log, "s", 1)  # seq 22: had 21 been delivered, it would have come first
    received = await collector.envelopes(21)
    assert [e.seq for e in received] == [*range(1, 21), 22]


async def test_concurrent_publishes_of_many_sessions_all_land_in_order(event_log: EventLog) -> None:
    await asyncio.gather(*(publish_chunks(event_log, f"s{k}", 30) for k in range(20)))
    for k in range(20):
        events_ = await replayed(event_log, f"s{k}", ((await event_log.snapshot(f"s{k}")).epoch, 0))
        assert events_ is not None
        assert [events.decode(d).payload["content"] for d in events_] == [f"<{i}>" for i in range(30)]


async def test_a_redis_broker_publishes_before_start_is_called(redis_server: RedisServer) -> None:
    redis_server.flush()
    broker = RedisBroker(redis_server.url)
    try:
        assert await asyncio.wait_for(
            broker.event_log.publish("s", events.STREAMING_STATUS, "m", {"text": "t"}), 5
        ) == (
            1,
            (await broker.event_log.snapshot("s")).epoch,
        )
    finally:
        await broker.close()
