"""The Phoenix socket: auth at the upgrade, heartbeat, bad frames, other channels unharmed."""

from __future__ import annotations

import json
import uuid

import pytest
import websockets

from .phoenix import PhoenixClient
from .system import System
from .test_verified_tokens import counted_verifications


async def test_bad_token_is_refused_at_the_upgrade_with_403(system: System) -> None:
    url = system.url.replace("http://", "ws://") + "/socket/websocket?vsn=2.0.0&token=not-a-jwt"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(url)
    assert refused.value.response.status_code == 403


async def test_token_signed_with_another_secret_is_refused(system: System) -> None:
    from relay.auth import mint

    forged = mint("some-other-secret-of-sufficient-length", "mallory", "acme")
    with pytest.raises(websockets.InvalidStatus) as refused:
        await PhoenixClient.connect(system.url, forged)
    assert refused.value.response.status_code == 403


async def test_heartbeat_is_answered_ok(system: System) -> None:
    client = await system.client()
    reply = await client.heartbeat()
    assert reply == {"status": "ok", "response": {}}


async def test_another_tenants_session_is_refused_at_join_as_not_found(system: System) -> None:
    session_id = await system.new_session(tenant="acme")
    await system.enable_assistant("globex")
    intruder = await system.client(user="eve", tenant="globex")
    reply = await intruder.join(f"ai_session:{session_id}")
    assert reply["status"] == "error"
    assert reply["response"]["reason"] == "not_found"


async def test_collaborators_in_the_same_tenant_may_join(system: System) -> None:
    session_id = await system.new_session(user="alice")
    bob = await system.client(user="bob")
    reply = await bob.join(f"ai_session:{session_id}")
    assert reply["status"] == "ok"


async def test_join_is_refused_while_the_assistant_is_disabled(system: System) -> None:
    session_id = await system.new_session(tenant="initech")
    off = {"experimental_features": {"ai_assistant": False}}
    await system.http.put("/api/tenant/settings", json=off, headers=system.auth("root", "initech", "admin"))
    client = await system.client(tenant="initech")
    reply = await client.join(f"ai_session:{session_id}")
    assert reply["response"]["reason"] == "ai_assistant_disabled"


async def test_unknown_topic_is_refused(system: System) -> None:
    client = await system.client()
    reply = await client.join("room:lobby")
    assert reply["status"] == "error"


@pytest.mark.parametrize(
    "frame",
    [
        "not json at all",
        "{}",
        "[1, 2, 3]",
        '[null, "7", "", "phx_join", {}]',
        '[null, "7", "ai_session:x", 42, {}]',
        '[null, "7", "ai_session:x", "new_message", "not an object"]',
        '[null, {"a": 1}, "ai_session:x", "new_message", {}]',
    ],
)
async def test_malformed_frames_get_an_error_and_the_socket_and_its_channels_keep_working(
    system: System, frame: str
) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    client = await system.client()
    assert (await client.join(topic))["status"] == "ok"
    await client.send_raw(frame)
    event, payload = await client.next_event("phoenix" if "ai_session:x" not in frame else "ai_session:x")
    assert event == "phx_reply"
    assert payload["status"] == "error"
    assert payload["response"]["reason"] == "bad_request"
    assert (await client.heartbeat())["status"] == "ok"
    await system.post_message(session_id, "still there?")
    events = await client.events_until(topic)
    assert events[-1][0] == "new_message"


async def test_malformed_frame_with_a_ref_gets_the_error_reply_on_that_ref(system: System) -> None:
    client = await system.client()
    reply = await client.request(None, "ai_session:abc", "phx_join", ["not", "an", "object"])
    assert reply["status"] == "error"
    assert reply["response"]["reason"] == "bad_request"


async def test_oversized_frame_is_refused_and_the_socket_stays_open(system: System) -> None:
    client = await system.client()
    huge = json.dumps([None, "1", "phoenix", "heartbeat", {"pad": "x" * (system.settings.max_frame_bytes + 10)}])
    await client.send_raw(huge)
    _, payload = await client.next_event("phoenix")
    assert payload["response"]["reason"] == "too_large"
    assert (await client.heartbeat())["status"] == "ok"


async def test_pushes_to_a_topic_not_joined_are_refused(system: System) -> None:
    client = await system.client()
    reply = await client.request(None, "ai_session:nope", "new_message", {"content": "hi"})
    assert reply["status"] == "error"
    assert reply["response"]["reason"] == "unmatched topic"


async def test_unknown_channel_event_is_refused_without_harm(system: System) -> None:
    session_id = await system.new_session()
    client = await system.client()
    await client.join(f"ai_session:{session_id}")
    reply = await client.push(f"ai_session:{session_id}", "self_destruct", {})
    assert reply["response"]["reason"] == "unknown_event"
    assert (await client.heartbeat())["status"] == "ok"


async def test_leave_is_acknowledged_and_closes_the_channel(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    client = await system.client()
    await client.join(topic)
    reply = await client.push(topic, "phx_leave", {})
    assert reply["status"] == "ok"
    event, _ = await client.next_event(topic)
    assert event == "phx_close"


async def test_v1_json_object_frames_are_spoken_too(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    url = system.url.replace("http://", "ws://") + f"/socket/websocket?vsn=1.0.0&token={system.token()}"
    async with websockets.connect(url) as connection:
        await connection.send(json.dumps({"topic": topic, "event": "phx_join", "payload": {}, "ref": "1"}))
        reply = json.loads(await connection.recv())
        assert reply["event"] == "phx_reply" and reply["ref"] == "1"
        assert reply["payload"]["status"] == "ok"
        await system.post_message(session_id, "hello in v1")
        events = []
        while not events or events[-1] != "new_message":
            event = json.loads(await connection.recv())["event"]
            if not event.startswith("presence_"):  # presence is not a session event
                events.append(event)
        assert events[0] == "user_message"


async def test_new_message_over_the_channel_starts_a_generation_and_a_second_is_busy(system: System) -> None:
    session_id = await system.new_session()
    topic = f"ai_session:{session_id}"
    client = await system.client()
    await client.join(topic)
    first = await client.push(topic, "new_message", {"content": "first question"})
    assert first["status"] == "ok"
    assert set(first["response"]) == {"message_id", "response_message_id"}
    second = await client.push(topic, "new_message", {"content": "second question"})
    assert second["status"] == "error"
    assert second["response"]["reason"] == "busy"
    events = await client.events_until(topic)
    assert events[-1][1]["message"]["id"] == first["response"]["response_message_id"]


async def test_a_token_that_reconnects_is_verified_once_per_process(
    system: System, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reconnect storm brings back the same tokens: their signatures are checked once, not at every upgrade."""
    checks = counted_verifications(monkeypatch)
    token = system.token(user=f"reconnecting-{uuid.uuid4().hex[:8]}")  # a token this process has not seen
    for _ in range(3):
        client = await PhoenixClient.connect(system.url, token)
        await client.close()
    assert checks == [token]
