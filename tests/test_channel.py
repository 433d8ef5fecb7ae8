"""The join seam, property-tested: publishes, deliveries and the join's reads interleaved at random.

Whatever the order, a tab's reply plus its pushes cover every event exactly once.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from relay.broker.memory import MemoryTopics
from relay.broker.memory_log import MemoryEventLog, MemorySessions
from relay.broker.topic_bus import Router, TopicHandler
from relay.channel import Channel
from relay.fanout import Fanout
from relay.join_page import JoinPages
from relay.serializer import Message, V2Serializer
from schema import events, keys

SESSION = "s1"
TOPIC = keys.topic(SESSION)


class SeamRouter(Router):
    """Deliveries wait in flight until flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.in_flight: deque[tuple[str, bytes]] = deque()

    def deliver(self, topic: str, data: bytes) -> None:
        self.in_flight.append((topic, data))

    def flush(self, count: int | None = None) -> None:
        while self.in_flight and (count is None or count > 0):
            super().deliver(*self.in_flight.popleft())
            count = None if count is None else count - 1


class SeamBroker(MemoryEventLog):
    """A memory event log with a network in between: deliveries wait in flight, subscriptions take a while.

    Before each of its reads (subscribe, snapshot, replay) it runs the next drawn
    step: some publishes, and some in-flight deliveries.
    """

    def __init__(self, steps: list[tuple[int, int]]) -> None:
        self.router = SeamRouter()
        super().__init__(MemorySessions(600), MemoryTopics(self.router, 600), self.router, 10_000, 1024 * 1024)
        self.steps = deque(steps)
        self.in_flight = self.router.in_flight
        self.published = 0

    def flush(self, count: int | None = None) -> None:
        self.router.flush(count)

    async def publish_chunks(self, count: int) -> None:
        for _ in range(count):
            self.published += 1
            await self.publish(SESSION, events.STREAMING_CHUNK, "m1", {"content": f"<{self.published}>"})

    async def step(self) -> None:
        if self.steps:
            publishes, deliveries = self.steps.popleft()
            await self.publish_chunks(publishes)
            self.flush(deliveries)
        await asyncio.sleep(0)

    async def subscribe(self, topic: str, handler: TopicHandler) -> None:
        await self.step()
        await super().subscribe(topic, handler)
        await self.step()

    async def snapshot(self, session_id: str):  # type: ignore[override]
        await self.step()
        return await super().snapshot(session_id)

    async def position(self, session_id: str, since: tuple[str, int] | None):  # type: ignore[override]
        await self.step()
        return await super().position(session_id, since)


class FakeChat:
    """The SQL reads of a join, which also take time while events flow."""

    def __init__(self, broker: SeamBroker) -> None:
        self.broker = broker

    async def session_and_history(self, claims: Any, session_id: str) -> tuple[dict[str, Any], list[Any]]:
        await self.broker.step()
        return {"id": session_id}, []


class FakeTenants:
    """The tenant's flags, read from the per-process cache."""

    async def require_assistant(self, claims: Any) -> None:
        return None

    def assistant(self, settings: Any) -> dict[str, bool]:
        return {"enabled": True, "configured": True}


class RecordingSocket:
    serializer = V2Serializer
    claims = SimpleNamespace(tenant="acme")

    def __init__(self, broker: SeamBroker) -> None:
        chat = FakeChat(broker)
        # what a session channel is given (no presence: `last_heard` is None)
        self.parts = {
            "chat": chat, "tenants": FakeTenants(), "fanout": Fanout(broker), "pages": JoinPages(broker, chat),
            "presences": None,
        }  # fmt: skip
        self.frames: list[list[Any]] = []

    def send(self, frame: str) -> None:
        self.frames.append(json.loads(frame))

    def reply(self, message: Message, status: str, response: dict[str, Any] | None = None) -> None:
        self.frames.append([message.join_ref, message.ref, message.topic, "phx_reply", {"status": status,
                                                                                          "response": response}])

    def forget(self, channel: Channel) -> None:
        pass

    def last_heard(self) -> None:
        return None  # no presence here (tests/test_presence.py covers it)


steps = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6)), max_size=8)


async def join_amid_traffic(
    before: int, seen: int | None, drawn_steps: list[tuple[int, int]], after: int
) -> tuple[list[list[Any]], str, int]:
    broker = SeamBroker(drawn_steps)
    await broker.publish(SESSION, events.MESSAGE_PROCESSING, "m1", {"session_id": SESSION})
    await broker.publish_chunks(before)
    broker.flush()
    socket = RecordingSocket(broker)
    epoch = (await MemoryEventLog.snapshot(broker, SESSION)).epoch
    params = {} if seen is None else {"since": {"seq": min(seen, before + 1), "epoch": epoch}}
    channel = Channel(socket, TOPIC, SESSION, "1", **socket.parts)  # type: ignore[arg-type]
    await channel.join(Message("1", "1", TOPIC, "phx_join", params))
    await broker.publish_chunks(after)
    while broker.in_flight or broker.steps:
        await broker.step()
        broker.flush()
    expected = "".join(f"<{i}>" for i in range(1, broker.published + 1))
    return socket.frames, expected, broker.published


def content_seen(frames: list[list[Any]], known: str) -> tuple[str, list[int]]:
    reply = frames[0][4]["response"]
    content = known if reply["recovered"] else (reply["streaming"] or {}).get("content", "")
    seqs = [reply["seq"]]
    for _, _, _, event, payload in frames[1:]:
        assert event == "streaming_chunk", event
        content += payload["content"]
        seqs.append(payload["seq"])
    return content, seqs


@settings(max_examples=150, deadline=None)
@given(before=st.integers(0, 5), drawn_steps=steps, after=st.integers(0, 5))
def test_a_fresh_join_sees_every_event_once_whatever_the_interleaving(
    before: int, drawn_steps: list[tuple[int, int]], after: int
) -> None:
    frames, expected, _ = asyncio.run(join_amid_traffic(before, None, drawn_steps, after))
    assert frames[0][3] == "phx_reply" and frames[0][4]["status"] == "ok"
    content, seqs = content_seen(frames, "")
    assert content == expected
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


@settings(max_examples=150, deadline=None)
@given(before=st.integers(0, 5), seen=st.integers(1, 6), drawn_steps=steps, after=st.integers(0, 5))
def test_a_resuming_join_sees_every_missed_event_once_whatever_the_interleaving(
    before: int, seen: int, drawn_steps: list[tuple[int, int]], after: int
) -> None:
    frames, expected, _ = asyncio.run(join_amid_traffic(before, seen, drawn_steps, after))
    reply = frames[0][4]["response"]
    assert reply["recovered"] is True
    since = reply["seq"]
    # seq 1 is message_processing; chunk n has seq n + 1
    known = "".join(f"<{i}>" for i in range(1, since))
    content, seqs = content_seen(frames, known)
    assert content == expected
    assert seqs == list(range(since, since + len(seqs)))
