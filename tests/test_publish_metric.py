"""The worker's publish histogram: one observation per publish, a failed one included."""

from __future__ import annotations

import asyncio

import pytest

from relay.broker.base import BrokerFull
from relay.broker.jobs import Job
from relay.broker.memory import MemoryBroker
from schema import events
from workers.generation import Generation
from workers.metrics import PUBLISH_SECONDS


def observed() -> float:
    return next(s.value for m in PUBLISH_SECONDS.collect() for s in m.samples if s.name.endswith("_count"))


def generation(broker: MemoryBroker) -> Generation:
    job = Job("1", {"session_id": "s1", "message_id": "m1"})
    return Generation(
        job, broker.event_log, broker.topics, broker.grants, None, None, 60, asyncio.Semaphore(1), broker.documents
    )  # type: ignore[arg-type]


async def test_every_publish_is_observed_once_failed_or_not(monkeypatch: pytest.MonkeyPatch) -> None:
    broker = MemoryBroker()
    running = generation(broker)
    before = observed()
    await running._publish_live(events.MESSAGE_PROCESSING, {"session_id": "s1"})
    await running._publish_live(events.STREAMING_CHUNK, {"content": "hi"})
    assert observed() == before + 2

    async def full(*args: object, **kwargs: object) -> None:
        raise BrokerFull("out of memory")

    monkeypatch.setattr(broker.event_log, "publish", full)
    with pytest.raises(BrokerFull):
        await running._publish_live(events.STREAMING_CHUNK, {"content": "more"})
    assert observed() == before + 3
