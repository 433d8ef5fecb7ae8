"""Regenerate and edit-and-resend, over HTTP and the channel: what is removed, who hears of it, what is refused."""

from __future__ import annotations

import asyncio
from typing import Any

from schema import keys

from .system import System


async def history(system: System, session_id: str) -> list[dict[str, Any]]:
    response = await system.http.get(f"/api/sessions/{session_id}/messages", headers=system.auth())
    return response.json()["messages"]


async def regenerate(system: System, session_id: str) -> Any:
    return await system.http.post(f"/api/sessions/{session_id}/regenerate", json={}, headers=system.auth())


async def edit(system: System, session_id: str, message_id: Any, content: str) -> Any:
    body = {"content": content, "edit": message_id}
    return await system.http.post(f"/api/sessions/{session_id}/messages", json=body, headers=system.auth())


async def test_regenerate_replaces_the_last_answer_and_every_tab_hears_which_message_went(system: System) -> None:
    session_id = await system.new_session()
    first = await system.ask(session_id, "hello")
    question_id = (await history(system, session_id))[0]["id"]
    tab = await system.client()
    topic = keys.topic(session_id)
    await tab.join(topic)
    response = await regenerate(system, session_id)
    assert response.status_code == 202
    assert response.json()["message_id"] == question_id
    answer_id = response.json()["response_message_id"]
    seen = await tab.events_until(topic)
    assert seen[0][0] == "messages_deleted"
    assert seen[0][1]["message_ids"] == [first["id"]] and seen[0][1]["seq"] > 0
    assert seen[-1][1]["message"]["id"] == answer_id and seen[-1][1]["message"]["status"] == "success"
    assert [m["id"] for m in await history(system, session_id)] == [question_id, answer_id]


async def test_a_tab_joining_after_a_regenerate_gets_neither_a_stale_page_nor_the_removed_answer(
    system: System,
) -> None:
    session_id = await system.new_session()
    first = await system.ask(session_id, "hello")
    topic = keys.topic(session_id)
    early = await system.client()
    joined = (await early.join(topic))["response"]  # caches the join page
    assert first["id"] in [m["id"] for m in joined["messages"]]
    position = {"epoch": joined["epoch"], "seq": joined["seq"]}
    await early.close()
    response = await regenerate(system, session_id)
    answer_id = response.json()["response_message_id"]
    watcher = await system.client()
    await watcher.join(topic)
    await watcher.events_until(topic)
    fresh = (await (await system.client()).join(topic))["response"]
    assert [m["id"] for m in fresh["messages"]] == [response.json()["message_id"], answer_id]
    resumed = await system.client()
    reply = await resumed.join(topic, {"since": position})
    assert reply["response"]["recovered"] is True
    assert (await resumed.next_event(topic)) == (
        "messages_deleted",
        {"message_ids": [first["id"]], "seq": position["seq"] + 1, "message_id": ""},
    )


async def test_regenerate_is_busy_while_a_generation_runs_and_a_conflict_with_nothing_to_regenerate(
    backend,
) -> None:
    async with System(backend, chunk_delay=0.05) as system:
        session_id = await system.new_session()
        nothing = await regenerate(system, session_id)
        assert nothing.status_code == 409 and nothing.json()["code"] == "conflict"
        assert (await system.post_message(session_id, "first")).status_code == 202
        running = await regenerate(system, session_id)
        assert running.status_code == 409 and running.json()["code"] == "busy"
        edited = await edit(system, session_id, (await history(system, session_id))[0]["id"], "again")
        assert edited.status_code == 409 and edited.json()["code"] == "busy"
        assert [m["status"] for m in await history(system, session_id)] == ["success", "processing"]


async def test_two_regenerates_at_once_start_one_generation(system: System) -> None:
    session_id = await system.new_session()
    await system.ask(session_id, "hello")
    tab = await system.client()
    topic = keys.topic(session_id)
    await tab.join(topic)
    answers = await asyncio.gather(*(regenerate(system, session_id) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [202, 409, 409, 409]
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"busy"}
    started = next(a.json() for a in answers if a.status_code == 202)
    seen = await tab.events_until(topic)
    assert [event for event, _ in seen].count("messages_deleted") == 1
    messages = await history(system, session_id)
    assert [m["id"] for m in messages] == [started["message_id"], started["response_message_id"]]


async def test_edit_and_resend_replaces_the_last_question_and_everything_after_it(system: System) -> None:
    session_id = await system.new_session()
    await system.ask(session_id, "one")
    await system.ask(session_id, "two")
    before = await history(system, session_id)
    tab = await system.client()
    topic = keys.topic(session_id)
    await tab.join(topic)
    response = await edit(system, session_id, before[2]["id"], "two, better")
    assert response.status_code == 202
    seen = await tab.events_until(topic)
    assert seen[0] == ("messages_deleted", {"message_ids": [before[2]["id"], before[3]["id"]], "seq": seen[0][1]["seq"],
                                            "message_id": ""})  # fmt: skip
    assert seen[1][0] == "user_message" and seen[1][1]["message"]["content"] == "two, better"
    after = await history(system, session_id)
    assert [m["id"] for m in after[:2]] == [m["id"] for m in before[:2]]
    assert [m["id"] for m in after[2:]] == [response.json()["message_id"], response.json()["response_message_id"]]
    assert after[2]["content"] == "two, better" and after[3]["status"] == "success"


async def test_editing_any_but_the_last_user_message_is_a_conflict_and_removes_nothing(system: System) -> None:
    session_id = await system.new_session()
    await system.ask(session_id, "one")
    await system.ask(session_id, "two")
    before = await history(system, session_id)
    other_session = await system.new_session()
    for target in (before[0]["id"], before[1]["id"], before[3]["id"], "no-such-message", other_session):
        response = await edit(system, session_id, target, "changed")
        assert response.status_code == 409 and response.json()["code"] == "conflict", target
    bad = await edit(system, session_id, 42, "changed")
    assert bad.status_code == 400 and bad.json()["code"] == "bad_request"
    empty = await edit(system, session_id, before[2]["id"], "")
    assert empty.status_code == 400
    assert await history(system, session_id) == before


async def test_another_tenants_session_cannot_be_regenerated_or_edited(system: System) -> None:
    session_id = await system.new_session()
    await system.ask(session_id, "hello")
    await system.enable_assistant("globex")
    intruder = system.auth("eve", "globex")
    url = f"/api/sessions/{session_id}"
    assert (await system.http.post(f"{url}/regenerate", json={}, headers=intruder)).status_code == 404
    question_id = (await history(system, session_id))[0]["id"]
    body = {"content": "mine now", "edit": question_id}
    assert (await system.http.post(f"{url}/messages", json=body, headers=intruder)).status_code == 404
    assert len(await history(system, session_id)) == 2


async def test_the_channel_regenerates_and_edits_with_the_same_replies(system: System) -> None:
    session_id = await system.new_session()
    topic = keys.topic(session_id)
    tab = await system.client()
    await tab.join(topic)
    refused = await tab.push(topic, "regenerate")
    assert refused["status"] == "error" and refused["response"]["reason"] == "conflict"
    sent = (await tab.push(topic, "new_message", {"content": "hello"}))["response"]
    await tab.events_until(topic)
    again = await tab.push(topic, "regenerate")
    assert again["status"] == "ok" and again["response"]["message_id"] == sent["message_id"]
    seen = await tab.events_until(topic)
    assert seen[0] == ("messages_deleted", {"message_ids": [sent["response_message_id"]], "seq": seen[0][1]["seq"],
                                            "message_id": ""})  # fmt: skip
    edited = await tab.push(topic, "new_message", {"content": "hello again", "edit": sent["message_id"]})
    assert edited["status"] == "ok"
    seen = await tab.events_until(topic)
    assert seen[0][1]["message_ids"] == [sent["message_id"], again["response"]["response_message_id"]]
    wrong = await tab.push(topic, "new_message", {"content": "x", "edit": sent["message_id"]})
    assert wrong["status"] == "error" and wrong["response"]["reason"] == "conflict"


async def test_the_usage_of_a_removed_answer_stays_counted(system: System) -> None:
    session_id = await system.new_session()
    await system.ask(session_id, "hello")
    tab = await system.client()
    topic = keys.topic(session_id)
    await tab.join(topic)
    await regenerate(system, session_id)
    await tab.events_until(topic)
    admin = system.auth("admin", "acme", "admin")
    report = (await system.http.get("/api/tenant/usage", headers=admin)).json()
    assert report["generations"] == 2
    assert report["by_user"][0]["generations"] == 2
