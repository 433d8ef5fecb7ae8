"""The document updates role: one contract for the memory and Redis brokers (and Redis Cluster)."""

from __future__ import annotations

import pytest

from relay.broker.base import Broker
from relay.broker.documents import AWARENESS, UPDATE, DocumentBus, DocumentMessage
from relay.broker.topic_bus import TopicBus
from schema import keys

from . import brokers
from .brokers import Collector

broker = brokers.broker  # every broker, as in the other roles' contracts


@pytest.fixture
def bus(broker: Broker) -> DocumentBus:
    return broker.documents


@pytest.fixture
def topics(broker: Broker) -> TopicBus:
    return broker.topics


TOPIC = keys.doc_topic("s1", "workflow_yaml")
OTHER = keys.doc_topic("s2", "workflow_yaml")


def message(kind: bytes, payload: bytes, origin: bytes = b"room0001") -> DocumentMessage:
    return DocumentMessage(kind, origin, payload)


async def test_an_update_is_logged_and_published_to_subscribers_of_its_document_only(
    bus: DocumentBus, topics: TopicBus
) -> None:
    collector = Collector()
    await topics.subscribe(TOPIC, collector)
    await bus.append_update(OTHER, message(UPDATE, b"elsewhere"))
    await bus.append_update(TOPIC, message(UPDATE, b"u1"))
    await bus.append_update(TOPIC, message(UPDATE, b"u2"))
    received = await collector.wait_for(2)
    assert [(topic, DocumentMessage.decode(data)) for topic, data in received] == [
        (TOPIC, message(UPDATE, b"u1")),
        (TOPIC, message(UPDATE, b"u2")),
    ]
    logged = await bus.logged_updates(TOPIC)
    assert logged.updates == [b"u1", b"u2"] and logged.last_id is not None
    assert (await bus.logged_updates(OTHER)).updates == [b"elsewhere"]


async def test_awareness_is_published_and_never_logged(bus: DocumentBus, topics: TopicBus) -> None:
    collector = Collector()
    await topics.subscribe(TOPIC, collector)
    await bus.announce(TOPIC, message(AWARENESS, b"cursor"))
    [(topic, data)] = await collector.wait_for(1)
    assert topic == TOPIC and DocumentMessage.decode(data) == message(AWARENESS, b"cursor")
    assert (await bus.logged_updates(TOPIC)).updates == []


async def test_trim_drops_what_was_folded_and_keeps_what_came_after(bus: DocumentBus) -> None:
    await bus.append_update(TOPIC, message(UPDATE, b"u1"))
    await bus.append_update(TOPIC, message(UPDATE, b"u2"))
    folded = await bus.logged_updates(TOPIC)
    await bus.append_update(TOPIC, message(UPDATE, b"u3"))
    assert folded.last_id is not None
    await bus.trim(TOPIC, folded.last_id)
    assert (await bus.logged_updates(TOPIC)).updates == [b"u3"]
    assert await bus.log_bytes(TOPIC) > 0
    await bus.trim(TOPIC, (await bus.logged_updates(TOPIC)).last_id or "")
    assert await bus.logged_updates(TOPIC) == type(folded)([], None)


def test_what_is_not_a_document_message_decodes_as_none() -> None:
    assert DocumentMessage.decode(b"x" + b"12345678" + b"p") is None
    assert DocumentMessage.decode(b"u123") is None
    assert DocumentMessage.decode(message(UPDATE, b"").encode()) == message(UPDATE, b"")
