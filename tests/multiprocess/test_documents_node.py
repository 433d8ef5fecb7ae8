"""Hosted documents with the real `yjs`, `y-protocols` and `phoenix` packages and the web app's own
provider (clients/web/src/yjs_channel.js), on two gateway processes and a worker over Redis, with PostgreSQL.

`clients/web/test/tabs.mjs` holds the tabs (one node process, each tab its own socket); the test
drives it with JSON commands and reads what each tab's text and cursors became.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from relay.demo_upstream import WORKFLOW_YAML

from ..node import node_for
from ..phoenix import PhoenixClient
from ..services import RedisServer
from .processes import Deployment, auth, token

WEB = Path(__file__).parents[2] / "clients" / "web"
BEFORE = "# my workflow\n" + WORKFLOW_YAML.replace("type: cron", "type: webhook")


class NodeTabs:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls) -> NodeTabs:
        process = await asyncio.create_subprocess_exec(
            node_for(WEB), "test/tabs.mjs", cwd=WEB,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for raw in self.process.stdout:
            self.lines.append(json.loads(raw))
            self.arrived.set()

    async def send(self, **command: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()

    async def open(self, tab: str, gateway: str, session_id: str, **options: Any) -> None:
        url = gateway.replace("http://", "ws://") + "/socket"
        topic = f"doc:{session_id}:workflow_yaml"
        await self.send(op="open", tab=tab, url=url, token=token(), topic=topic, **options)

    def text(self, tab: str) -> str | None:
        texts = [line["text"] for line in self.lines if line["tab"] == tab and "text" in line]
        return texts[-1] if texts else None

    def names(self, tab: str) -> list[str] | None:
        """The names of the others whose cursors the tab shows."""
        seen = [line["names"] for line in self.lines if line["tab"] == tab and "names" in line]
        return seen[-1] if seen else None

    async def until(self, condition: Callable[[NodeTabs], bool], what: str, within: float = 15) -> None:
        try:
            async with asyncio.timeout(within):
                while not condition(self):
                    self.arrived.clear()
                    await self.arrived.wait()
        except TimeoutError:
            stderr = b""
            if self.process.returncode is not None and self.process.stderr is not None:
                stderr = await self.process.stderr.read()
            raise AssertionError(f"not within {within} s: {what}; lines: {self.lines[-8:]} {stderr!r}") from None

    async def until_text(self, tab: str, expected: str, within: float = 15) -> None:
        await self.until(lambda tabs: tabs.text(tab) == expected, f"{tab} shows {expected!r}", within)

    async def stop(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 5)
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self.reader.cancel()


@pytest.fixture
async def gateways(deployment: Deployment) -> list[str]:
    """Two gateway processes and a worker process."""
    await deployment.worker()
    return [(await deployment.gateway())[0], (await deployment.gateway())[0]]


async def relay_session(gateway: str, workflow: str) -> str:
    async with httpx.AsyncClient(base_url=gateway) as http:
        enabled = await http.put(
            "/api/tenant/settings", json={"experimental_features": {"ai_assistant": True}}, headers=auth(role="admin")
        )
        assert enabled.status_code == 200, enabled.text
        body = {"documents": "relay", "context": {"workflow_yaml": workflow}}
        created = await http.post("/api/sessions", json=body, headers=auth())
        assert created.status_code == 201, created.text
        return str(created.json()["id"])


@pytest.fixture
async def tabs() -> AsyncIterator[NodeTabs]:
    running = await NodeTabs.start()
    yield running
    await running.stop()


async def test_tabs_on_two_gateways_converge_and_a_later_tab_gets_the_whole_document(
    gateways: list[str], tabs: NodeTabs
) -> None:
    session_id = await relay_session(gateways[0], BEFORE)
    await tabs.open("a", gateways[0], session_id, name="Alice")
    await tabs.open("b", gateways[1], session_id, name="Bob")
    await tabs.until_text("a", BEFORE)
    await tabs.until_text("b", BEFORE)
    await tabs.send(op="insert", tab="a", index=0, text="# alice was here\n")
    await tabs.send(op="insert", tab="b", index=len(BEFORE), text="# bob too\n")
    expected = "# alice was here\n" + BEFORE + "# bob too\n"
    await tabs.until_text("a", expected)
    await tabs.until_text("b", expected)
    # cursors and names cross gateways
    await tabs.until(lambda t: t.names("a") == ["Bob"], "a sees Bob")
    await tabs.until(lambda t: t.names("b") == ["Alice"], "b sees Alice")
    await tabs.open("c", gateways[1], session_id)
    await tabs.until_text("c", expected)
    await tabs.send(op="close", tab="a")
    await tabs.until(lambda t: t.names("b") == [], "Alice's cursor goes")


async def test_the_assistants_change_lands_once_in_every_tab_before_the_answer_ends_keeping_a_persons_edit(
    gateways: list[str], tabs: NodeTabs
) -> None:
    session_id = await relay_session(gateways[0], BEFORE)
    await tabs.open("a", gateways[0], session_id)
    await tabs.open("b", gateways[1], session_id)
    await tabs.until_text("a", BEFORE)
    await tabs.until_text("b", BEFORE)
    watcher = await PhoenixClient.connect(gateways[1], token())
    topic = f"ai_session:{session_id}"
    await watcher.join(topic)
    async with httpx.AsyncClient(base_url=gateways[0]) as http:
        posted = await http.post(f"/api/sessions/{session_id}/messages", json={"content": "A workflow"}, headers=auth())
    assert posted.status_code == 202, posted.text
    seen = await watcher.events_until(topic, "message_processing")
    # Alice types while the assistant answers (it read the document as the generation started).
    await tabs.send(op="insert", tab="a", index=len("# my workflow\n"), text="# reviewed by Alice\n")
    # The change removes the comment on top and names the trigger back; Alice's line stays.
    expected = "# reviewed by Alice\n" + WORKFLOW_YAML
    landed = asyncio.gather(tabs.until_text("a", expected), tabs.until_text("b", expected))
    seen += await watcher.events_until(topic)
    assert landed.done(), f"not in every tab before the answer's text ended: {tabs.text('a')!r}"
    await landed
    applied = [payload for event, payload in seen if event == "changes_applied"]
    assert [a["user_id"] for a in applied] == [None]
    final = seen[-1][1]["message"]
    assert [c["applied"] for c in final["changes"]] == [True]
    assert tabs.text("a") == tabs.text("b") == expected  # once: the workflow is in it once, the edit kept
    await watcher.close()


async def test_a_reload_gets_the_document_from_storage_after_every_process_restarted_and_redis_lost_its_data(
    deployment: Deployment, gateways: list[str], tabs: NodeTabs, redis_server: RedisServer
) -> None:
    session_id = await relay_session(gateways[0], BEFORE)
    await tabs.open("a", gateways[0], session_id)
    await tabs.open("b", gateways[1], session_id)
    await tabs.until_text("b", BEFORE)
    await tabs.send(op="insert", tab="a", index=0, text="# typed just now\n")
    await tabs.until_text("b", "# typed just now\n" + BEFORE)
    await deployment.stop()  # every process; a gateway stopping stores what its rooms added
    redis_server.flush()
    deployment.processes.clear()
    gateway, _ = await deployment.gateway()
    await tabs.open("reloaded", gateway, session_id)
    await tabs.until_text("reloaded", "# typed just now\n" + BEFORE)
