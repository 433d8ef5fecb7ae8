"""Redis Cluster subscriptions: each session topic on the node that owns its slot, and kept there
through failovers (see `ClusterSubscriptions`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from redis.asyncio.cluster import RedisCluster
from redis.crc import key_slot
from redis.exceptions import AskError, ClusterDownError, RedisClusterException, RedisError, TryAgainError

from .base import BrokerUnavailable
from .pubsub import Subscriptions

logger = logging.getLogger(__name__)

# A failover under way or just done (MovedError is an AskError): transient, like a dropped connection.
CLUSTER_IN_FLUX = (ClusterDownError, TryAgainError, AskError)


def failing_over(exc: Exception) -> bool:
    """A failover under way: the cluster is down for a moment, a slot moved, or the node we were blocked
    on (XREADGROUP) just became a replica."""
    return isinstance(exc, CLUSTER_IN_FLUX) or str(exc).startswith("UNBLOCKED")


class NodeSubscriptions(Subscriptions):
    """Topics subscribed on one cluster node, which tells `on_moved` of every topic it carried when its
    connection breaks: the node may be gone for good (failed over)."""

    def __init__(self, url: str, on_message: Callable[[str, bytes], None], on_resubscribed: Callable[[], None],
                 on_moved: Callable[[Subscriptions, set[str], bool], None], **options: Any) -> None:  # fmt: skip
        super().__init__(url, on_message, on_resubscribed, **options)
        self.on_moved = on_moved

    def _lost(self) -> None:
        if self.topics:
            self.on_moved(self, set(self.topics), False)


class ShardedSubscriptions(NodeSubscriptions):
    """SSUBSCRIBE on the node that owns the topics' slots; a topic the node unsubscribes by itself (its slot
    moved) goes to `on_moved` as dropped."""

    MESSAGE, CONFIRMATION, COMMAND_PREFIX = "smessage", "ssubscribe", "s"

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self.unsubscribing: dict[str, int] = {}  # our own unsubscribes not yet confirmed, by topic

    async def unsubscribe(self, topic: str) -> None:
        self.unsubscribing[topic] = self.unsubscribing.get(topic, 0) + 1
        await super().unsubscribe(topic)

    async def _connect(self) -> None:
        self.unsubscribing.clear()  # a new connection: nothing of ours is in flight on it
        await super()._connect()

    def _commands(self, verb: str, topics: list[str]) -> list[list[str]]:
        """One command per slot: a node refuses to (un)subscribe channels of different slots at once (CROSSSLOT),
        and every session's topic has a slot of its own."""
        by_slot: dict[int, list[str]] = {}
        for topic in topics:
            by_slot.setdefault(key_slot(topic.encode()), []).append(topic)
        commands: list[list[str]] = []
        for same_slot in by_slot.values():
            commands += super()._commands(verb, same_slot)
        return commands

    def _other(self, kind: str, topic: str) -> None:
        if kind != "sunsubscribe":
            return
        if self.unsubscribing.get(topic, 0) > 0:  # ours
            self.unsubscribing[topic] -= 1
            if not self.unsubscribing[topic]:
                del self.unsubscribing[topic]
        elif topic in self.topics:  # not ours: the node no longer serves the topic's slot
            logger.warning("%s no longer serves %s (its slot moved); re-routing", self.shown, topic)
            self.forget(topic)
            self.on_moved(self, {topic}, True)


class ClusterSubscriptions:
    """Redis Cluster: each session topic on the node that owns its slot (SSUBSCRIBE); the rest on one node.

    When a node stops serving a topic (a failover made it a replica and it dropped the
    subscription, or its connection broke), the slot map is read again and the topic is
    subscribed where it lives now; then `on_resubscribed`, since events may have been missed.
    """

    def __init__(
        self,
        cluster: RedisCluster,
        on_message: Callable[[str, bytes], None],
        on_resubscribed: Callable[[], None],
        broadcast_topics: frozenset[str],
    ) -> None:
        self.cluster = cluster
        self.on_message = on_message
        self.on_resubscribed = on_resubscribed
        self.broadcast_topics = broadcast_topics
        self.by_node: dict[str, Subscriptions] = {}
        self.moved: dict[str, Subscriptions] = {}  # topic → the connection that lost it
        self.dropped: set[str] = set()  # moved topics whose node said it no longer serves them
        self.rerouting: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Connections open on first use, once the cluster's slot map is known."""

    async def close(self) -> None:
        if self.rerouting is not None:
            self.rerouting.cancel()
            await asyncio.gather(self.rerouting, return_exceptions=True)
        for subscriptions in self.by_node.values():
            await subscriptions.close()

    def _connection_for(self, topic: str) -> Subscriptions:
        sharded = topic not in self.broadcast_topics
        node = self.cluster.get_node_from_key(topic) if sharded else self.cluster.get_default_node()
        name = f"{node.name}/{'shard' if sharded else 'classic'}"
        subscriptions = self.by_node.get(name)
        if subscriptions is None:
            url = node_url(self.cluster, node.host, node.port)
            kind = ShardedSubscriptions if sharded else NodeSubscriptions
            subscriptions = kind(url, self.on_message, self.on_resubscribed, self._moved)
            subscriptions.start()
            self.by_node[name] = subscriptions
        return subscriptions

    async def subscribe(self, topic: str) -> None:
        await self._connection_for(topic).subscribe(topic)

    async def unsubscribe(self, topic: str) -> None:
        self.moved.pop(topic, None)
        self.dropped.discard(topic)
        await self._connection_for(topic).unsubscribe(topic)

    def _moved(self, source: Subscriptions, topics: set[str], dropped: bool) -> None:
        for topic in topics:
            self.moved[topic] = source
            if dropped:
                self.dropped.add(topic)
        if self.rerouting is None or self.rerouting.done():
            self.rerouting = asyncio.create_task(self._reroute(), name="re-route cluster subscriptions")

    async def _reroute(self) -> None:
        delay = 0.1
        while self.moved:
            try:
                await self.cluster.nodes_manager.initialize()  # the slot map as the cluster sees it now
                self._move_broadcasts_off_lost_nodes()
                rerouted = await self._resubscribe_moved()
            except (RedisError, RedisClusterException, OSError, BrokerUnavailable) as exc:
                logger.warning("cannot re-route cluster subscriptions yet (%s)", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            if rerouted:
                self.on_resubscribed()
            await self._close_unused()
            if self.moved:  # the slot map does not show the new owner yet: look again shortly
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def _move_broadcasts_off_lost_nodes(self) -> None:
        """Classic topics live on the default node: if its connection broke, make another primary the default."""
        lost = {self.moved[topic].url for topic in self.moved if topic in self.broadcast_topics}
        default = self.cluster.get_default_node()
        if node_url(self.cluster, default.host, default.port) in lost:
            others = [n for n in self.cluster.get_primaries() if node_url(self.cluster, n.host, n.port) not in lost]
            if others:
                self.cluster.set_default_node(others[0])

    async def _resubscribe_moved(self) -> bool:
        """Subscribe each moved topic where its slot lives now; True if any changed connection."""
        rerouted = False
        for topic, source in list(self.moved.items()):
            target = self._connection_for(topic)
            if target is source and topic in self.dropped:
                continue  # the node dropped it, yet the map still names it: not updated everywhere yet
            if target is not source:
                source.forget(topic)
                await target.subscribe(topic)
                rerouted = True
            # (the same node after a lost connection: it resubscribes by itself when it is back)
            self.moved.pop(topic, None)
            self.dropped.discard(topic)
        return rerouted

    async def _close_unused(self) -> None:
        """Close connections to nodes that no longer serve slots and carry no topics (a failed primary
        would otherwise be redialled forever); a live node's connection stays, a subscribe may be under way."""
        serving = {node_url(self.cluster, n.host, n.port) for n in self.cluster.get_primaries()}
        for name, subscriptions in list(self.by_node.items()):
            if subscriptions.url not in serving and not subscriptions.topics:
                del self.by_node[name]
                await subscriptions.close()


def node_url(cluster: RedisCluster, host: str, port: int) -> str:
    """A URL for one node, with the cluster connection's scheme and credentials."""
    kwargs = cluster.connection_kwargs
    scheme = "rediss" if kwargs.get("ssl") else "redis"
    username, password = kwargs.get("username"), kwargs.get("password")
    credentials = f"{quote(username or '')}:{quote(password)}@" if password else ""
    return f"{scheme}://{credentials}{host}:{port}"
