"""The script batcher (`relay.broker.batcher`): pipelined script calls that survive a lost script, answer within
their deadline, and turn Redis's out-of-memory refusal into `BrokerFull` whichever script met it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from typing import Any

import hiredis
import pytest
from redis.exceptions import OutOfMemoryError, ResponseError

from relay.broker.base import BrokerFull, BrokerUnavailable
from relay.broker.batcher import ScriptBatcher, full_or
from relay.broker.redis import RedisBroker
from schema import events

from .brokers import publish_chunks, replayed
from .services import RedisServer


async def test_pipelined_publishes_survive_a_restart_that_lost_the_script(private_redis: RedisServer) -> None:
    broker = RedisBroker(private_redis.url)
    await broker.start()
    try:
        await publish_chunks(broker.event_log, "s", 1)
        private_redis.restart()  # no script, and the batcher's connection is broken
        await asyncio.gather(*(publish_chunks(broker.event_log, f"s{k}", 5) for k in range(10)))
        for k in range(10):
            events_ = await replayed(broker.event_log, f"s{k}", ((await broker.event_log.snapshot(f"s{k}")).epoch, 0))
            assert events_ is not None
            assert [events.decode(d).payload["content"] for d in events_] == [f"<{i}>" for i in range(5)]
    finally:
        await broker.close()


async def test_a_redis_that_does_not_answer_makes_a_publish_fail_within_its_deadline() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    broker = RedisBroker(f"redis://127.0.0.1:{port}/0")
    broker.event_log.publishes.timeout = 0.2
    try:
        async with asyncio.timeout(5):
            with pytest.raises(BrokerUnavailable, match=r"did not answer within 0\.2 s"):
                await broker.event_log.publish("s", events.STREAMING_STATUS, "m", {"text": "t"})
    finally:
        await broker.close()
        server.close()


@pytest.mark.parametrize(
    "refusal",
    [
        OutOfMemoryError("command not allowed when used memory > 'maxmemory'"),
        ResponseError("OOM command not allowed when used memory > 'maxmemory'. script: 2f62…"),
    ],
)
def test_an_out_of_memory_refusal_is_broker_full_whichever_command_or_script_met_it(refusal: Exception) -> None:
    full = full_or(refusal)
    assert isinstance(full, BrokerFull) and isinstance(full, BrokerUnavailable)
    assert full.__cause__ is refusal


def test_any_other_error_reply_is_left_as_it_is() -> None:
    other = ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value")
    assert full_or(other) is other


async def test_each_caller_of_a_batch_has_its_reply_as_soon_as_it_arrives() -> None:
    """Two calls go out in one batch; Redis answers the first at once and the second later: the first caller
    is not kept waiting for the second reply."""
    release = asyncio.Event()

    async def redis_like(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = hiredis.Reader()
        while data := await reader.read(65536):
            parser.feed(data)
            while (command := parser.gets()) is not False:
                if command[0].upper() == b"PING":
                    writer.write(b"+PONG\r\n")
                elif command[0].upper() != b"EVALSHA":
                    writer.write(b"+OK\r\n")  # redis-py's hello (CLIENT SETINFO …)
                elif command[-1] == b"later":
                    await release.wait()
                    writer.write(b":2\r\n")
                else:
                    writer.write(b":1\r\n")
                await writer.drain()

    server = await asyncio.start_server(redis_like, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    broker = RedisBroker(f"redis://127.0.0.1:{port}/0")
    try:
        async with asyncio.timeout(5):
            first = asyncio.ensure_future(broker.event_log.publishes.call([0, "now"]))
            second = asyncio.ensure_future(broker.event_log.publishes.call([0, "later"]))
            assert await first == 1
            assert not second.done()
            release.set()
            assert await second == 2
    finally:
        await broker.close()
        server.close()


async def test_the_batchers_connection_outlives_a_garbage_collection(private_redis: RedisServer) -> None:
    broker = RedisBroker(private_redis.url)
    await broker.start()
    try:
        await publish_chunks(broker.event_log, "s", 1)
        pipe = broker.event_log.publishes.pipe
        gc.collect()
        await asyncio.sleep(0.05)  # a socket closed meanwhile would have told its protocol by now
        assert pipe is not None and pipe.usable
        await publish_chunks(broker.event_log, "s", 1)
        assert broker.event_log.publishes.pipe is pipe
    finally:
        await broker.close()


async def test_calls_that_cannot_be_pipelined_take_turns_at_the_pooled_connections() -> None:
    """On a cluster each call is a command on a pooled connection: it goes through the guard that takes a turn
    at the pool (redis-py would fail past its pool size), not the one for the batcher's own connection."""
    turns: list[str] = []

    class Cluster:
        async def evalsha(self, sha: str, *args: object) -> int:
            return 1

    def guard(name: str) -> Callable[[Callable[[], Awaitable[Any]]], Awaitable[Any]]:
        async def run(command: Callable[[], Awaitable[Any]]) -> Any:
            turns.append(name)
            return await command()

        return run

    batcher = ScriptBatcher(Cluster(), "return 1", guard("pooled"), pipelined=False, own_guard=guard("own"))
    assert await batcher.call([0]) == 1
    assert await batcher.call_many([[0], [0]]) == [1, 1]
    assert turns == ["pooled"] * 3


async def test_a_started_broker_has_its_batchers_connected(private_redis: RedisServer) -> None:
    """The first calls do not wait for a connection together (and share a batch they would not have shared)."""
    broker = RedisBroker(private_redis.url)
    await broker.start()
    try:
        log = broker.event_log
        for batcher in (log.publishes, log.positions, broker.presence.calls, broker.limits.calls):
            assert batcher.pipe is not None and batcher.pipe.usable, batcher.name
    finally:
        await broker.close()
