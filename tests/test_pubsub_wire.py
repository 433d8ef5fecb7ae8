"""What a Redis pub/sub connection may carry, from a scripted server (`scripted_redis`): garbage or an error
reply, a handler that raises, silence, a message cut across many reads, many messages in one read, confirmations
among messages, a hang-up before a confirmation, a node's own SUNSUBSCRIBE. Each makes `Subscriptions` deliver
every message whole and in order, or start over on a new connection, resubscribe every topic and say so."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable

import pytest

from relay.broker.base import BrokerUnavailable
from relay.broker.cluster_pubsub import ShardedSubscriptions
from relay.broker.pubsub import Subscriptions

from .conditions import until
from .scripted_redis import ScriptedRedis, push


@contextlib.asynccontextmanager
async def started(subscriptions: Subscriptions) -> AsyncIterator[Subscriptions]:
    """`subscriptions` started, and closed on the way out."""
    subscriptions.start()
    try:
        yield subscriptions
    finally:
        await subscriptions.close()


class Heard:
    """What a `Subscriptions` delivered, and how often it said it resubscribed."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.resubscriptions = 0

    def deliver(self, topic: str, data: bytes) -> None:
        self.received.append((topic, data))

    def resubscribed(self) -> None:
        self.resubscriptions += 1


def listening(
    server: ScriptedRedis, heard: Heard, deliver: Callable[[str, bytes], None] | None = None, **options: float
) -> contextlib.AbstractAsyncContextManager[Subscriptions]:
    """Subscriptions to `server` that tell `heard` (or `deliver`) what they hear, started and closed after."""
    return started(Subscriptions(server.url, deliver or heard.deliver, heard.resubscribed, **options))


@pytest.mark.parametrize("hostile", [b"@@@ not RESP at all\r\n", b"-ERR out of nowhere\r\n"], ids=["garbage", "error"])
async def test_garbage_or_an_error_reply_on_the_connection_makes_it_resubscribe_every_topic_and_say_so(
    hostile: bytes,
) -> None:
    heard = Heard()
    async with ScriptedRedis() as server, listening(server, heard) as subscriptions:
        first = await server.next_peer()
        await asyncio.wait_for(asyncio.gather(subscriptions.subscribe("a"), subscriptions.subscribe("b")), 5)
        first.write(hostile)
        second = await server.next_peer()
        assert sorted((await second.command(b"SUBSCRIBE"))[1:]) == [b"a", b"b"]
        await until(lambda: heard.resubscriptions == 1)
        second.write(push(b"message", b"b", b"after"))
        await until(lambda: heard.received == [("b", b"after")])


async def test_a_handler_that_raises_makes_the_connection_start_over_say_so_and_log_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, the exception ended the reading task: the gateway stayed subscribed and deaf."""
    heard = Heard()

    def deliver(topic: str, data: bytes) -> None:
        if data == b"bad":
            raise KeyError("a handler's bug")
        heard.deliver(topic, data)

    async with ScriptedRedis() as server, listening(server, heard, deliver) as subscriptions:
        first = await server.next_peer()
        await asyncio.wait_for(subscriptions.subscribe("t"), 5)
        first.write(push(b"message", b"t", b"bad"))
        second = await server.next_peer()
        await until(lambda: heard.resubscriptions == 1)
        second.write(push(b"message", b"t", b"good"))
        await until(lambda: heard.received == [("t", b"good")])
        assert 'KeyError: "a handler\'s bug"' in caplog.text  # with its traceback
        assert "in deliver" in caplog.text


async def test_a_server_that_stops_answering_pings_is_hung_up_on_and_every_topic_resubscribed() -> None:
    heard = Heard()
    async with ScriptedRedis() as server, listening(server, heard, ping_every=0.1, silence_limit=0.5) as subscriptions:
        first = await server.next_peer()
        await asyncio.wait_for(subscriptions.subscribe("t"), 5)
        first.answering = False  # the socket stays open: only the silence tells
        second = await server.next_peer()
        assert (await second.command(b"SUBSCRIBE"))[1:] == [b"t"]
        assert sum(command == [b"PING"] for command in first.commands) >= 2
        await until(lambda: heard.resubscriptions == 1)


async def test_a_message_of_several_mib_split_across_many_reads_is_delivered_whole_and_once() -> None:
    heard = Heard()
    data = bytes(range(256)) * (6 * 4096)  # 6 MiB
    wire = push(b"message", b"t", data)
    cuts = [0, 1, 2, 5, 13, 22, 30, *range(64, len(wire), 100_003), len(wire)]  # through the header too
    async with ScriptedRedis() as server, listening(server, heard) as subscriptions:
        peer = await server.next_peer()
        await asyncio.wait_for(subscriptions.subscribe("t"), 5)
        for start, end in itertools.pairwise(cuts):
            peer.write(wire[start:end])
            await peer.writer.drain()
            await asyncio.sleep(0.001)
        peer.write(push(b"message", b"t", b"after"))
        await until(lambda: len(heard.received) == 2)
        assert heard.received == [("t", data), ("t", b"after")]
        assert heard.resubscriptions == 0


async def test_many_messages_arriving_in_one_read_are_all_delivered_in_order() -> None:
    heard = Heard()
    sent = [("a" if k % 3 else "b", b"%d" % k) for k in range(2000)]
    async with ScriptedRedis() as server, listening(server, heard) as subscriptions:
        peer = await server.next_peer()
        await asyncio.wait_for(asyncio.gather(subscriptions.subscribe("a"), subscriptions.subscribe("b")), 5)
        peer.write(b"".join(push(b"message", topic.encode(), data) for topic, data in sent))
        await until(lambda: len(heard.received) == len(sent))
        assert heard.received == sent


async def test_confirmations_arriving_in_one_read_with_messages_confirm_and_deliver_in_order() -> None:
    heard = Heard()
    async with ScriptedRedis(confirming=False) as server, listening(server, heard) as subscriptions:
        peer = await server.next_peer()
        subscribing = asyncio.gather(subscriptions.subscribe("a"), subscriptions.subscribe("b"))
        await peer.command(b"SUBSCRIBE")
        await asyncio.sleep(0.05)
        assert not subscribing.done()  # a subscribe returns only once confirmed
        peer.write(
            push(b"subscribe", b"a", 1) + push(b"message", b"a", b"1") + push(b"subscribe", b"b", 2)
            + push(b"message", b"b", b"2") + push(b"message", b"a", b"3")
        )  # fmt: skip
        await asyncio.wait_for(subscribing, 5)
        await until(lambda: len(heard.received) == 3)
        assert heard.received == [("a", b"1"), ("b", b"2"), ("a", b"3")]


async def test_a_subscribe_unconfirmed_when_the_server_hangs_up_returns_once_the_next_connection_confirms_it() -> None:
    heard = Heard()
    async with ScriptedRedis() as server, listening(server, heard) as subscriptions:
        first = await server.next_peer()
        await asyncio.wait_for(subscriptions.subscribe("a"), 5)
        first.confirming = False
        subscribing = asyncio.create_task(subscriptions.subscribe("b"))
        await until(lambda: [b"SUBSCRIBE", b"b"] in ([c[0].upper(), *c[1:]] for c in first.commands))
        first.writer.close()
        second = await server.next_peer()
        await asyncio.wait_for(subscribing, 5)
        assert sorted((await second.command(b"SUBSCRIBE"))[1:]) == [b"a", b"b"]
        assert heard.resubscriptions == 1


async def test_a_sharded_topic_the_node_unsubscribes_by_itself_goes_to_on_moved_as_dropped_but_ours_do_not() -> None:
    heard, moved = Heard(), []

    def on_moved(_: object, topics: set[str], dropped: bool) -> None:
        moved.append((topics, dropped))

    async with ScriptedRedis() as server:
        sharded = ShardedSubscriptions(server.url, heard.deliver, heard.resubscribed, on_moved)
        async with started(sharded) as subscriptions:
            peer = await server.next_peer()
            await asyncio.wait_for(asyncio.gather(*(subscriptions.subscribe(t) for t in "abc")), 5)
            await subscriptions.unsubscribe("a")
            assert (await peer.command(b"SUNSUBSCRIBE"))[1:] == [b"a"]
            peer.write(push(b"sunsubscribe", b"a", 2) + push(b"sunsubscribe", b"b", 1) + push(b"smessage", b"c", b"x"))
            await until(lambda: heard.received == [("c", b"x")])
            assert moved == [({"b"}, True)]
            assert subscriptions.topics == {"c"}


async def test_a_subscribe_waiting_for_its_confirmation_is_refused_when_the_subscriptions_close() -> None:
    """Closing never leaves a caller waiting forever for a confirmation that cannot come any more."""
    async with ScriptedRedis(confirming=False) as server, listening(server, Heard()) as subscriptions:
        await server.next_peer()
        waiting = asyncio.ensure_future(subscriptions.subscribe("t"))
        await until(lambda: "t" in subscriptions.confirmations)
        await subscriptions.close()
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(waiting, 5)
