"""One Redis pub/sub connection that never goes deaf in silence.

redis-py would reconnect a pub/sub connection quietly, hiding that messages
were missed in between. Here a lost connection is noticed (a read error, or no
answer to a ping), every topic is subscribed again, and `on_resubscribed` is
called so that the gateway can make its clients resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable

import redis.asyncio as redis
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.retry import Retry

from .base import BrokerUnavailable

logger = logging.getLogger(__name__)

PING_EVERY = 5.0
SILENCE_LIMIT = 15.0
CONNECT_PATIENCE = 2.0  # how long a subscribe waits for a reconnecting connection


class Subscriptions:
    """Topics subscribed on one Redis server (SUBSCRIBE; `cluster_pubsub.ShardedSubscriptions` for a
    Redis Cluster node's SSUBSCRIBE)."""

    MESSAGE, CONFIRMATION = "message", "subscribe"  # the kinds of reply that deliver and that confirm

    def __init__(
        self,
        url: str,
        on_message: Callable[[str, bytes], None],
        on_resubscribed: Callable[[], None],
        ping_every: float = PING_EVERY,
        silence_limit: float = SILENCE_LIMIT,
        client_class: type[redis.Redis] = redis.Redis,
    ) -> None:
        self.url = url
        self.client_class = client_class
        self.on_message = on_message
        self.on_resubscribed = on_resubscribed
        self.ping_every = ping_every
        self.silence_limit = silence_limit
        self.topics: set[str] = set()
        self.confirmations: dict[str, asyncio.Future[None]] = {}
        self.client: redis.Redis | None = None
        self.pubsub: PubSub | None = None
        self.lock = asyncio.Lock()
        self.outgoing: list[tuple[str, str]] = []  # (un)subscriptions waiting for the lock
        self.connected = asyncio.Event()
        self.reader: asyncio.Task[None] | None = None
        self.broken = asyncio.Event()  # an (un)subscribe failed on the current connection
        self.last_heard = 0.0

    def start(self) -> None:
        self.reader = asyncio.create_task(self._read_forever(), name=f"pub/sub reader {self.url}")

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.reader
        await self._drop()

    async def subscribe(self, topic: str) -> None:
        """Return once messages published on `topic` from now on are delivered."""
        self.topics.add(topic)
        confirmed = asyncio.get_running_loop().create_future()
        self.confirmations[topic] = confirmed
        if not self.connected.is_set():
            try:
                await asyncio.wait_for(self.connected.wait(), CONNECT_PATIENCE)
            except TimeoutError:
                self.topics.discard(topic)
                raise BrokerUnavailable("Redis pub/sub is reconnecting") from None
        await self._send("subscribe", topic)
        await confirmed

    async def unsubscribe(self, topic: str) -> None:
        self.forget(topic)
        pending = self.confirmations.pop(topic, None)
        if pending is not None and not pending.done():
            pending.cancel()
        await self._send("unsubscribe", topic)

    def forget(self, topic: str) -> None:
        """Stop resubscribing `topic` on reconnects (it is served elsewhere now, or unsubscribed)."""
        self.topics.discard(topic)

    async def _send(self, verb: str, topic: str) -> None:
        """Send a (un)subscription; if that fails, make the reader start over.

        (Un)subscriptions that queue up while one is sent go out together, one
        command per run of the same verb (a reconnect storm subscribes thousands).
        redis-py reconnects a connection whose command failed, quietly, so the
        reader might never see the break: it is told to reconnect and resubscribe
        every topic itself (which also confirms this one), and say so.
        """
        self.outgoing.append((verb, topic))
        async with self.lock:
            queued, self.outgoing = self.outgoing, []
            if self.pubsub is None:
                return
            for run_verb, run in itertools.groupby(queued, key=lambda sent: sent[0]):
                topics = [sent_topic for _, sent_topic in run]
                try:
                    await self._command(self.pubsub, run_verb, *topics)
                except (RedisError, OSError) as exc:
                    logger.warning(
                        "redis pub/sub %s of %d topics failed (%s); reconnecting", run_verb, len(topics), exc
                    )
                    self.broken.set()
                    return

    async def _command(self, pubsub: PubSub, verb: str, *topics: str) -> None:
        await getattr(pubsub, verb)(*topics)

    def _lost(self) -> None:
        """The connection broke (the reader reconnects and resubscribes)."""

    def _other(self, kind: str, topic: str) -> None:
        """A reply that neither delivers nor confirms (an unsubscribe's)."""

    async def _read_forever(self) -> None:
        delay, first = 0.05, True
        while True:
            try:
                await self._connect()
                if not first:
                    self.on_resubscribed()
                first, delay = False, 0.05
                await self._read_until_broken()
            except (RedisError, OSError, TimeoutError) as exc:
                logger.warning("redis pub/sub connection to %s lost (%s); reconnecting", self.url, exc)
                self._lost()
            self.connected.clear()
            await self._drop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _connect(self) -> None:
        client = self.client_class.from_url(self.url, socket_timeout=10, retry=Retry(NoBackoff(), 0))
        pubsub = client.pubsub()
        async with self.lock:
            self.client, self.pubsub = client, pubsub
            self.broken.clear()
            await pubsub.ping()
            for topic in self.topics:
                if topic not in self.confirmations or self.confirmations[topic].done():
                    self.confirmations[topic] = asyncio.get_running_loop().create_future()
            if self.topics:
                await self._command(pubsub, "subscribe", *self.topics)
        self.connected.set()

    async def _drop(self) -> None:
        async with self.lock:
            client, pubsub, self.client, self.pubsub = self.client, self.pubsub, None, None
        with contextlib.suppress(Exception):
            if pubsub is not None:
                await pubsub.aclose()
            if client is not None:
                await client.aclose()

    async def _read_until_broken(self) -> None:
        """Read and watch the connection; returns only by raising what broke it."""
        pubsub = self.pubsub
        assert pubsub is not None
        self.last_heard = time.monotonic()
        tasks = [asyncio.create_task(self._read(pubsub)), asyncio.create_task(self._watch(pubsub))]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, pubsub: PubSub) -> None:
        """Messages as they come: no timeout per message (the watchdog guards the silence)."""
        data_kind, confirm_kind = self.MESSAGE, self.CONFIRMATION
        while True:
            message = await pubsub.get_message(timeout=None)
            if message is None:
                continue
            self.last_heard = time.monotonic()
            kind = message["type"]
            if kind == data_kind:
                self.on_message(message["channel"].decode(), message["data"])
            elif kind == confirm_kind:
                confirmed = self.confirmations.get(message["channel"].decode())
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
            elif message["channel"] is not None:
                self._other(kind, message["channel"].decode())

    async def _watch(self, pubsub: PubSub) -> None:
        """Ping now and then; give the connection up when it stays silent or a subscription failed on it."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.ping_every):
                    await self.broken.wait()
            if self.broken.is_set():
                raise RedisConnectionError("a subscription command failed on this connection")
            if time.monotonic() - self.last_heard > self.silence_limit:
                raise TimeoutError(f"no answer from Redis for {self.silence_limit:g} s")
            await pubsub.ping()
