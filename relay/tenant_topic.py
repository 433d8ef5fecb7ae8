"""The `tenant:<id>` topic: the assistant's state (`{enabled, configured}`), pushed live to every tab of a tenant.

Like presence, not a session event: no `seq`, not logged, not replayed. A tab joins the
topic of its own tenant and is answered with the state as it is; when an admin changes
the tenant's settings on any gateway, the announcement on `keys.SETTINGS_TOPIC` reaches
every gateway (`SettingsCache` drops its entry first), and each pushes `assistant_state`
with the new state to its own tabs of that tenant. A tab that was away rejoins and reads
the state from the join reply, so nothing needs replaying.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from .broker.base import BrokerUnavailable

if TYPE_CHECKING:
    from .serializer import Message
    from .tenants import Tenants
    from .transport import Transport

logger = logging.getLogger(__name__)

TOPIC_PREFIX = "tenant:"
ASSISTANT_STATE = "assistant_state"


def tenant_of_topic(topic: str) -> str | None:
    tenant = topic[len(TOPIC_PREFIX) :] if topic.startswith(TOPIC_PREFIX) else ""
    return tenant or None


class TenantChannel:
    """One tab's join of its tenant's topic."""

    __slots__ = ("join_ref", "tenant", "tenant_topics", "topic", "transport")

    def __init__(
        self, transport: Transport, topic: str, tenant: str, join_ref: str | None, *, tenant_topics: TenantTopics
    ) -> None:
        self.transport = transport
        self.tenant_topics = tenant_topics
        self.topic = topic
        self.tenant = tenant
        self.join_ref = join_ref

    async def join(self, message: Message) -> None:
        transport = self.transport
        if self.tenant != transport.claims.tenant:
            self.leave()
            transport.reply(
                message, "error", {"reason": "unauthorized", "message": "a tab may join its own tenant only"}
            )
            return
        topics = self.tenant_topics
        topics.add(self)  # before the read: a change from now on is pushed after the reply
        try:
            assistant = await topics.assistant(self.tenant)
        except BrokerUnavailable as exc:
            self.leave()
            transport.reply(message, "error", {"reason": "unavailable", "message": str(exc)})
            return
        transport.reply(message, "ok", {"assistant": assistant})

    def push(self, frame: bytes) -> None:
        self.transport.send(frame)

    def leave(self) -> None:
        self.tenant_topics.discard(self)
        self.transport.forget(self)

    async def handle_in(self, event: str, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "error", {"reason": "unknown_event", "message": f"the tenant topic takes no {event!r}"}


class TenantTopics:
    """This process's tenant channels, by tenant; a `TopicHandler` for the settings announcements."""

    def __init__(self, tenants: Tenants) -> None:
        self.tenants = tenants
        self.channels: dict[str, set[TenantChannel]] = {}
        self.pushing: dict[str, asyncio.Task[None]] = {}  # one read and push per tenant at a time
        self.again: set[str] = set()  # announced while its push ran: push once more after it

    def add(self, channel: TenantChannel) -> None:
        self.channels.setdefault(channel.tenant, set()).add(channel)

    def discard(self, channel: TenantChannel) -> None:
        joined = self.channels.get(channel.tenant)
        if joined is not None:
            joined.discard(channel)
            if not joined:
                del self.channels[channel.tenant]

    async def assistant(self, tenant: str) -> dict[str, bool]:
        try:
            return self.tenants.assistant(await self.tenants.cache.get(tenant))
        except Exception as exc:  # SQL away: the tab rejoins later
            raise BrokerUnavailable(f"the tenant's settings cannot be read now: {exc}") from exc

    def changed(self, tenant: str) -> None:
        if tenant not in self.channels:
            return
        if tenant in self.pushing:
            self.again.add(tenant)
            return
        task = asyncio.get_running_loop().create_task(self._push(tenant), name=f"assistant state {tenant}")
        self.pushing[tenant] = task

    async def _push(self, tenant: str) -> None:
        try:
            while True:
                self.again.discard(tenant)
                try:
                    assistant = await self.assistant(tenant)
                except BrokerUnavailable as exc:
                    logger.warning("could not push the assistant's state to tenant %s: %s", tenant, exc)
                    return
                frames: dict[Any, bytes] = {}  # encoded once per wire format
                for channel in list(self.channels.get(tenant, ())):
                    serializer = channel.transport.serializer
                    frame = frames.get(serializer)
                    if frame is None:
                        payload = {"assistant": assistant}
                        frame = frames[serializer] = serializer.encode(
                            None, None, channel.topic, ASSISTANT_STATE, payload
                        )
                    channel.push(frame)
                if tenant not in self.again:
                    return
        finally:
            del self.pushing[tenant]

    # TopicHandler of settings announcements (registered after the SettingsCache, which drops its entry first)

    def deliver(self, topic: str, data: bytes) -> None:
        self.changed(data.decode(errors="replace"))

    def resubscribed(self) -> None:
        """Announcements may have been lost while the broker was away: tell every tab the state as it is now."""
        for tenant in list(self.channels):
            self.changed(tenant)
