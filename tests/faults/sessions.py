"""A chat session watched from one WebSocket tab, as a user would: ask, watch, read history."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from ..phoenix import PhoenixClient
from ..system import System

Event = tuple[str, dict[str, Any]]


@dataclass
class WatchedSession:
    system: System
    session_id: str
    tab: PhoenixClient
    tenant: str = "acme"
    seen: list[Event] = field(default_factory=list)

    @classmethod
    async def open(cls, system: System, tenant: str = "acme") -> WatchedSession:
        session_id = await system.new_session(tenant=tenant)
        tab = await system.client(tenant=tenant)
        async with asyncio.timeout(15):
            while (joined := await tab.join(f"ai_session:{session_id}"))["status"] != "ok":
                assert joined["response"]["reason"] == "unavailable", joined  # the broker is reconnecting
                await asyncio.sleep(0.2)
        return cls(system, session_id, tab, tenant)

    @property
    def topic(self) -> str:
        return f"ai_session:{self.session_id}"

    async def ask(self, question: str) -> str:
        """Post over HTTP; the id of the assistant message that will answer."""
        posted = await self.system.post_message(self.session_id, question, tenant=self.tenant)
        assert posted.status_code == 202, posted.text
        return posted.json()["response_message_id"]

    async def until(self, event: str, within: float = 15) -> list[Event]:
        """The pushes up to and including the next `event`."""
        start = len(self.seen)
        async with asyncio.timeout(within):
            while not self.seen[start:] or self.seen[-1][0] != event:
                self.seen.append(await self.tab.next_event(self.topic, within))
        return self.seen[start:]

    async def until_chunks(self, count: int, within: float = 15) -> None:
        while len(self.events("streaming_chunk")) < count:
            await self.until("streaming_chunk", within)

    async def stays_quiet(self, seconds: float) -> bool:
        """True if nothing more is pushed for `seconds`."""
        await asyncio.sleep(seconds)
        return self.tab.queue(self.topic).empty()

    def events(self, name: str) -> list[dict[str, Any]]:
        return [payload for event, payload in self.seen if event == name]

    def streamed(self) -> str:
        """The text this tab was sent, chunk by chunk."""
        return "".join(payload["content"] for payload in self.events("streaming_chunk"))

    async def messages(self) -> list[dict[str, Any]]:
        """The session's history as `GET /api/sessions/{id}/messages` returns it."""
        response = await self.system.http.get(
            f"/api/sessions/{self.session_id}/messages", headers=self.system.auth(tenant=self.tenant)
        )
        assert response.status_code == 200, response.text
        return response.json()["messages"]

    async def stop_over_http(self) -> Any:
        response = await self.system.http.post(
            f"/api/sessions/{self.session_id}/stop", headers=self.system.auth(tenant=self.tenant)
        )
        assert response.status_code == 200, response.text
        return response.json()["message_id"]
