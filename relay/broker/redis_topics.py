"""The topic bus on Redis: pub/sub, with the subscriptions that never go deaf in silence (`pubsub`).

On Redis Cluster a session's or a document's topic is sharded (SPUBLISH, subscribed on the node that owns
its slot, `cluster_pubsub`); the announcements every process hears (`BROADCAST_TOPICS`) stay classic.
"""

from __future__ import annotations

from schema import keys

from .cluster_pubsub import ClusterSubscriptions
from .pubsub import Subscriptions
from .redis_connection import RedisConnection
from .topic_bus import Router, TopicBus, TopicHandler

BROADCAST_TOPICS = frozenset({keys.STOP_TOPIC, keys.SETTINGS_TOPIC})


class RedisTopics(TopicBus):
    def __init__(self, connection: RedisConnection, router: Router) -> None:
        self.connection = connection
        self.router = router
        self.subscriptions: Subscriptions | ClusterSubscriptions
        if connection.cluster:
            self.subscriptions = ClusterSubscriptions(
                connection.redis, router.deliver, router.resubscribed, broadcast_topics=BROADCAST_TOPICS
            )
        else:
            self.subscriptions = Subscriptions(
                connection.url, router.deliver, router.resubscribed, client_class=connection.client_class
            )

    async def subscribe(self, topic: str, handler: TopicHandler) -> None:
        self.router.add(topic, handler)
        await self.subscriptions.subscribe(topic)

    async def unsubscribe(self, topic: str, handler: TopicHandler) -> None:
        if self.router.remove(topic, handler):
            await self.subscriptions.unsubscribe(topic)

    async def announce(self, topic: str, data: bytes, keep: bool = False) -> None:
        redis = self.connection.redis
        if keep:  # the key first: whoever misses the announcement finds it when it asks
            ttl = self.connection.ttl_seconds
            await self.connection.call(lambda: redis.set(keys.kept_key(topic, data.decode()), 1, ex=ttl))
        sharded = self.connection.cluster and topic not in BROADCAST_TOPICS
        publish = redis.spublish if sharded else redis.publish
        await self.connection.call(lambda: publish(topic, data))

    async def kept(self, topic: str, data: bytes) -> bool:
        key = keys.kept_key(topic, data.decode())
        return bool(await self.connection.call(lambda: self.connection.redis.exists(key)))
