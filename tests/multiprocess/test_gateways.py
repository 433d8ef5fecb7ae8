"""Several gateway processes on one Redis: identical streams, one grant, survival of a lost gateway."""

from __future__ import annotations

import asyncio
import signal

from ..phoenix import PhoenixClient
from ..streams import assert_contiguous, final_message, replay
from .processes import Deployment, new_session, post_message, token


async def test_tabs_split_across_two_gateway_processes_see_identical_streams(deployment: Deployment) -> None:
    (first, _), (second, _) = await deployment.gateway(), await deployment.gateway()
    await deployment.worker()
    session_id = await new_session(first)
    topic = f"ai_session:{session_id}"
    tabs = [await PhoenixClient.connect(url, token()) for url in (first, second, first, second)]
    for tab in tabs:
        assert (await tab.join(topic))["status"] == "ok"
    assert (await post_message(second, session_id, "hello from gateway two")).status_code == 202
    streams = await asyncio.gather(*(tab.events_until(topic, within=60) for tab in tabs))
    assert all(stream == streams[0] for stream in streams)
    assert final_message(streams[0])["status"] == "success"
    for tab in tabs:
        await tab.close()


async def test_ten_tabs_on_two_gateways_racing_a_claim_get_one_grant(deployment: Deployment) -> None:
    urls = [(await deployment.gateway())[0] for _ in range(2)]
    await deployment.worker()
    session_id = await new_session(urls[0])
    topic = f"ai_session:{session_id}"
    tabs = [await PhoenixClient.connect(urls[i % 2], token(f"user{i}")) for i in range(10)]
    for tab in tabs:
        await tab.join(topic)
    await post_message(urls[0], session_id, "make me a workflow")

    async def claim(tab: PhoenixClient) -> bool:
        while True:
            event, payload = await tab.next_event(topic)
            if event == "streaming_changes":
                reply = await tab.push(topic, "claim_changes", {"change_id": payload["change_id"]})
                return reply["response"]["granted"]

    grants = await asyncio.gather(*(claim(tab) for tab in tabs))
    assert sum(grants) == 1
    for tab in tabs:
        await tab.close()


async def test_tabs_of_a_killed_gateway_reconnect_to_another_and_recover(deployment: Deployment) -> None:
    (doomed, doomed_process), (survivor, _) = await deployment.gateway(), await deployment.gateway()
    await deployment.worker()
    session_id = await new_session(survivor)
    topic = f"ai_session:{session_id}"
    tab = await PhoenixClient.connect(doomed, token())
    reply = (await tab.join(topic))["response"]
    await post_message(survivor, session_id, "a long answer please")
    seen = []
    while sum(1 for event, _ in seen if event == "streaming_chunk") < 30:
        seen.append(await tab.next_event(topic))
    doomed_process.send_signal(signal.SIGKILL)
    await doomed_process.wait()
    await tab.reader  # the connection is gone
    # what phoenix.js does: reconnect (here, to the other gateway) and rejoin with `since`
    seen += [item for item in drain(tab, topic)]
    again = await PhoenixClient.connect(survivor, token())
    rejoined = (await again.join(topic, {"since": {"seq": seen[-1][1]["seq"], "epoch": reply["epoch"]}}))["response"]
    assert rejoined["recovered"] is True
    rest = await again.events_until(topic, within=60)
    assert_contiguous(reply["seq"] + 1, seen + rest)
    assert replay(reply, seen + rest) == final_message(rest)["content"]
    await again.close()


def drain(tab: PhoenixClient, topic: str) -> list:
    queue = tab.queue(topic)
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def test_sigterm_on_a_gateway_closes_its_sockets_cleanly_so_tabs_reconnect_elsewhere(
    deployment: Deployment,
) -> None:
    (leaving, leaving_process), (staying, _) = await deployment.gateway(), await deployment.gateway()
    session_id = await new_session(staying)
    tab = await PhoenixClient.connect(leaving, token())
    assert (await tab.join(f"ai_session:{session_id}"))["status"] == "ok"
    leaving_process.send_signal(signal.SIGTERM)
    await asyncio.wait_for(tab.reader, 10)
    assert tab.connection.close_code == 1012  # "service restart": reconnect, elsewhere
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert await asyncio.wait_for(leaving_process.wait(), 10) in (0, -signal.SIGTERM)
    again = await PhoenixClient.connect(staying, token())
    assert (await again.join(f"ai_session:{session_id}"))["status"] == "ok"
    await again.close()
