"""What every connection of one gateway process shares: broker, fan-out, chat, tenants, presence, join pages,
per-user limits, hosted documents, the tenant topics, settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from .broker.base import Broker
from .channel import Channel
from .chat import Chat
from .documents import Documents
from .fanout import Fanout
from .join_page import JoinPages
from .limits import UserLimits
from .presence_tracker import PresenceTracker
from .settings import Settings
from .tenant_topic import TenantTopics
from .tenants import Tenants

if TYPE_CHECKING:
    from .transport import Transport


@dataclass
class Gateway:
    settings: Settings
    broker: Broker
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    fanout: Fanout
    chat: Chat
    tenants: Tenants
    presence: PresenceTracker
    pages: JoinPages
    limits: UserLimits
    documents: Documents
    tenant_topics: TenantTopics

    def session_channel(self, transport: Transport, topic: str, session_id: str, join_ref: str | None) -> Channel:
        """An `ai_session:<id>` channel on a connection, given the parts of this gateway it uses."""
        return Channel(
            transport, topic, session_id, join_ref,
            chat=self.chat, tenants=self.tenants, fanout=self.fanout, pages=self.pages, presences=self.presence,
        )  # fmt: skip
