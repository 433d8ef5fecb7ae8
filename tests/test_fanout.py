"""The fan-out: one broker subscription per topic, and who is told to resync when the broker reconnects."""

from __future__ import annotations

import asyncio

from relay.broker.memory import MemoryBroker, MemoryTopics
from relay.broker.memory_log import MemoryEventLog, MemorySessions
from relay.broker.topic_bus import Router, TopicHandler
from relay.fanout import Delivery, Fanout
from relay.presence_tracker import PresenceDiff
from schema.presence_codec import encode_diff


class HeldSubscriptions(MemoryEventLog):
    """An event log whose subscriptions are confirmed only when the test says so."""

    def __init__(self) -> None:
        self.router = Router()
        super().__init__(MemorySessions(600), MemoryTopics(self.router, 600), self.router, 2000, 1024 * 1024)
        self.confirm: dict[str, asyncio.Event] = {}
        self.asked = asyncio.Event()

    async def subscribe(self, topic: str, handler: TopicHandler) -> None:
        self.asked.set()
        await self.confirm.setdefault(topic, asyncio.Event()).wait()
        await super().subscribe(topic, handler)


class Tab:
    def __init__(self) -> None:
        self.resyncs = 0

    def receive(self, delivery: Delivery) -> None:
        pass

    def resync(self) -> None:
        self.resyncs += 1

    def presence(self, diff: PresenceDiff) -> None:
        pass


async def test_a_reconnect_makes_every_confirmed_topic_resync() -> None:
    broker = HeldSubscriptions()
    fanout = Fanout(broker)
    tab = Tab()
    broker.confirm["ai_session:a"] = asyncio.Event()
    broker.confirm["ai_session:a"].set()
    await fanout.join("ai_session:a", tab)

    broker.router.resubscribed()

    assert tab.resyncs == 1


async def test_a_topic_first_confirmed_on_the_new_connection_is_not_told_it_missed_events() -> None:
    """Its subscription was still pending when the broker reconnected: it will be confirmed on the new
    connection, before which the tab had no position to miss anything from."""
    broker = HeldSubscriptions()
    fanout = Fanout(broker)
    tab = Tab()
    joining = asyncio.create_task(fanout.join("ai_session:b", tab))
    await broker.asked.wait()  # the subscription is on its way

    broker.router.resubscribed()
    broker.confirm["ai_session:b"].set()
    await joining

    assert tab.resyncs == 0


class Watcher(Tab):
    def __init__(self) -> None:
        super().__init__()
        self.diffs: list[dict] = []

    def presence(self, diff: PresenceDiff) -> None:
        self.diffs.append(diff.diff)


async def test_presence_diffs_of_a_topic_that_arrive_together_reach_a_tab_as_one() -> None:
    broker = MemoryBroker()
    fanout = Fanout(broker.event_log)
    watcher = Watcher()
    await fanout.join("ai_session:a", watcher)
    bob = {"metas": [{"phx_ref": "r2"}]}
    fanout.deliver("ai_session:a", encode_diff({"alice": {"metas": [{"phx_ref": "r1"}]}}, {}))
    fanout.deliver("ai_session:a", encode_diff({"alice": {"metas": [{"phx_ref": "r3"}]}, "bob": bob}, {}))
    fanout.deliver("ai_session:a", encode_diff({}, {"alice": {"metas": [{"phx_ref": "r1"}]}}))
    assert watcher.diffs == []  # sent at the end of the loop iteration
    await asyncio.sleep(0)
    assert watcher.diffs == [{
        "joins": {"alice": {"metas": [{"phx_ref": "r1"}, {"phx_ref": "r3"}]}, "bob": bob},
        "leaves": {"alice": {"metas": [{"phx_ref": "r1"}]}},
    }]  # fmt: skip
    fanout.deliver("ai_session:a", encode_diff({}, {"bob": bob}))
    await asyncio.sleep(0)
    assert watcher.diffs[1] == {"joins": {}, "leaves": {"bob": bob}}
