"""One Redis pub/sub connection that never goes deaf in silence.

redis-py would reconnect a pub/sub connection quietly, hiding that messages
were missed in between. Here a lost connection is noticed (a read error, garbage,
an error reply, a handler's exception, or no answer to a ping), every topic is
subscribed again, and `on_resubscribed` is called so that the gateway can make its
clients resume. The connection is read by a `PushReader`, which delivers each
message as it is parsed; a task of this class only connects, pings and watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from operator import itemgetter
from urllib.parse import urlsplit

import redis.asyncio as redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from .base import BrokerUnavailable
from .push_reader import PushReader

logger = logging.getLogger(__name__)

PING_EVERY = 5.0
SILENCE_LIMIT = 15.0
CONNECT_PATIENCE = 2.0  # how long a subscribe waits for a reconnecting connection


class Subscriptions:
    """Topics subscribed on one Redis server (SUBSCRIBE; `cluster_pubsub.ShardedSubscriptions` for a
    Redis Cluster node's SSUBSCRIBE)."""

    MESSAGE, CONFIRMATION = "message", "subscribe"  # the kinds of push that deliver and that confirm
    COMMAND_PREFIX = ""  # of the (un)subscribe commands

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
        self.shown = shown(url)
        self.client_class = client_class
        self.on_message = on_message
        self.on_resubscribed = on_resubscribed
        self.ping_every = ping_every
        self.silence_limit = silence_limit
        self.topics: set[str] = set()
        self.confirmations: dict[str, asyncio.Future[None]] = {}
        self.pushes: PushReader | None = None  # the connection, while it is up
        self.outgoing: list[tuple[str, str]] = []  # (un)subscriptions to send with this turn of the loop
        self.flush_soon: asyncio.Handle | None = None
        self.connected = asyncio.Event()
        self.keeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.keeper = asyncio.create_task(self._stay_connected(), name=f"pub/sub connection {self.shown}")

    async def close(self) -> None:
        if self.keeper is not None:
            self.keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.keeper
        if self.flush_soon is not None:
            self.flush_soon.cancel()
            self.flush_soon = None
        await self._drop()
        confirmations, self.confirmations = self.confirmations, {}
        for confirmed in confirmations.values():
            if not confirmed.done():
                confirmed.set_exception(BrokerUnavailable("Redis pub/sub is closed"))

    async def subscribe(self, topic: str) -> None:
        """Return once messages published on `topic` from now on are delivered."""
        self.topics.add(topic)
        confirmed = asyncio.get_running_loop().create_future()
        self.confirmations[topic] = confirmed
        if self.connected.is_set():
            self._send("subscribe", topic)
        else:  # the connection being made subscribes every topic, this one too
            try:
                await asyncio.wait_for(self.connected.wait(), CONNECT_PATIENCE)
            except TimeoutError:
                self.topics.discard(topic)
                raise BrokerUnavailable("Redis pub/sub is reconnecting") from None
        await confirmed

    async def unsubscribe(self, topic: str) -> None:
        self.forget(topic)
        pending = self.confirmations.pop(topic, None)
        if pending is not None and not pending.done():
            pending.cancel()
        self._send("unsubscribe", topic)

    def forget(self, topic: str) -> None:
        """Stop resubscribing `topic` on reconnects (it is served elsewhere now, or unsubscribed)."""
        self.topics.discard(topic)

    def _send(self, verb: str, topic: str) -> None:
        """Queue a (un)subscription: those queued in one turn of the loop go out together, one command per
        run of the same verb (a reconnect storm subscribes thousands of topics)."""
        self.outgoing.append((verb, topic))
        if self.flush_soon is None:
            self.flush_soon = asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        """Send what queued up. Without a connection, nothing: the next one subscribes every topic. A send the
        connection cannot take closes it, and the next one subscribes every topic (which confirms these)."""
        self.flush_soon = None
        queued, self.outgoing = self.outgoing, []
        if self.pushes is None:
            return
        commands: list[list[str]] = []
        for verb, run in itertools.groupby(queued, key=itemgetter(0)):
            commands += self._commands(verb, [topic for _, topic in run])
        self.pushes.send(*commands)

    def _commands(self, verb: str, topics: list[str]) -> list[list[str]]:
        """The commands that (un)subscribe `topics`."""
        return [[self.COMMAND_PREFIX + verb, *topics]]

    def _lost(self) -> None:
        """The connection broke (it is reconnected and every topic resubscribed)."""

    def _confirmed(self, topic: str) -> None:
        confirmed = self.confirmations.get(topic)
        if confirmed is not None and not confirmed.done():
            confirmed.set_result(None)

    def _other(self, kind: str, topic: str) -> None:
        """An unsubscribe's push: ours, or the server's own."""

    async def _stay_connected(self) -> None:
        delay, first = 0.05, True
        while True:
            try:
                await self._connect()
            except (RedisError, OSError, TimeoutError) as exc:
                reason: BaseException = exc
            else:
                if not first:
                    self.on_resubscribed()
                first, delay = False, 0.05
                reason = await self._watch()
            bug = not isinstance(reason, (RedisError, OSError, TimeoutError))  # a handler raised: its traceback
            shown, traceback = self.shown, reason if bug else None
            logger.warning("redis pub/sub connection to %s lost (%s); reconnecting", shown, reason, exc_info=traceback)
            self._lost()
            self.connected.clear()
            await self._drop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def _connect(self) -> None:
        client = self.client_class.from_url(self.url, socket_timeout=10, retry=Retry(NoBackoff(), 0))
        pool = client.connection_pool
        kinds = (self.MESSAGE, self.CONFIRMATION)
        pushes = await PushReader.open(
            pool.connection_class(**pool.connection_kwargs), self.on_message, self._confirmed, self._other, kinds
        )
        self.pushes = pushes
        for topic in self.topics:
            if topic not in self.confirmations or self.confirmations[topic].done():
                self.confirmations[topic] = asyncio.get_running_loop().create_future()
        if self.topics:
            pushes.send(*self._commands("subscribe", list(self.topics)))
        self.connected.set()

    async def _drop(self) -> None:
        pushes, self.pushes = self.pushes, None
        if pushes is not None:
            await pushes.close()

    async def _watch(self) -> BaseException:
        """Ping now and then; return why the connection is given up: it ended, or stayed silent too long."""
        pushes, loop = self.pushes, asyncio.get_running_loop()
        assert pushes is not None
        while True:
            await asyncio.wait((pushes.closed,), timeout=self.ping_every)
            if pushes.closed.done():
                return pushes.closed.result()
            if loop.time() - pushes.heard > self.silence_limit:
                return TimeoutError(f"no answer from Redis for {self.silence_limit:g} s")
            pushes.send(["PING"])


def shown(url: str) -> str:
    """`url` as logs show it: no password (nor the query's options)."""
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="").geturl()
