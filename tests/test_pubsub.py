"""Redis pub/sub subscriptions (`relay.broker.pubsub`) on a real Redis: a frozen connection replaced,
subscriptions batched, a cluster node's sharded topics one slot per command, the URL's TLS, password and
database followed (what the wire may carry, scripted: `test_pubsub_wire.py`)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
import redis.asyncio as redis
from redis.asyncio.cluster import RedisCluster

from relay.broker.cluster_pubsub import ShardedSubscriptions, node_url
from relay.broker.pubsub import Subscriptions
from schema import keys

from .conditions import until
from .services import RedisCluster as RedisClusterServers
from .services import RedisServer, free_port
from .test_network import certificate
from .test_pubsub_wire import Heard


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


async def test_sharded_topics_of_many_slots_subscribed_at_once_all_deliver_and_again_after_a_reconnect(
    redis_cluster: RedisClusterServers,
) -> None:
    """A node refuses one SSUBSCRIBE of channels in different slots (CROSSSLOT); a session's topic is a slot."""
    cluster = RedisCluster.from_url(redis_cluster.url)
    await cluster.initialize()
    node = cluster.get_node_from_key(keys.topic("0"))
    topics = [t for t in (keys.topic(str(k)) for k in range(100)) if cluster.get_node_from_key(t) is node][:20]
    heard = Heard()
    subscriptions = ShardedSubscriptions(
        node_url(cluster, node.host, node.port), heard.deliver, heard.resubscribed, lambda *_: None
    )
    subscriptions.start()
    try:
        await asyncio.wait_for(asyncio.gather(*(subscriptions.subscribe(t) for t in topics)), 10)
        for topic in topics:
            await cluster.spublish(topic, b"before")
        await until(lambda: sorted(heard.received) == sorted((t, b"before") for t in topics))
        await cluster.execute_command("CLIENT KILL", "TYPE", "pubsub", target_nodes=node)
        await until(lambda: heard.resubscriptions == 1)
        await until(lambda: all(subscriptions.confirmations[t].done() for t in topics))
        for topic in topics:
            await cluster.spublish(topic, b"after")
        await until(lambda: len(heard.received) == 2 * len(topics))
        assert sorted(heard.received[len(topics) :]) == sorted((t, b"after") for t in topics)
    finally:
        await subscriptions.close()
        await cluster.aclose()


async def test_the_connection_follows_the_urls_tls_password_and_database_also_when_it_reconnects_never_logging_it(
    private_redis: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = certificate(tmp_path)
    tls_port = free_port()
    private_redis.stop()
    private_redis.start(["--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                         "--tls-auth-clients", "no"])  # fmt: skip
    admin = redis.Redis.from_url(private_redis.url)
    await admin.config_set("requirepass", "s3cret")  # this connection stays authenticated
    heard = Heard()
    url = f"rediss://:s3cret@localhost:{tls_port}/3?ssl_ca_certs={cert}"
    subscriptions = Subscriptions(url, heard.deliver, heard.resubscribed)
    subscriptions.start()
    try:
        await asyncio.wait_for(subscriptions.subscribe("t"), 5)
        assert [client["db"] for client in await admin.client_list(_type="pubsub")] == ["3"]
        await admin.publish("t", b"before")
        await admin.client_kill_filter(_type="pubsub")
        await until(lambda: heard.resubscriptions == 1)
        await until(lambda: subscriptions.confirmations["t"].done())
        await admin.publish("t", b"after")
        await until(lambda: heard.received == [("t", b"before"), ("t", b"after")])
        assert f"connection to rediss://localhost:{tls_port}/3 lost" in caplog.text
        assert "s3cret" not in caplog.text
    finally:
        await subscriptions.close()
        await admin.aclose()
