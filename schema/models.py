"""SQLAlchemy models: tenants, chat sessions, chat messages, claimed changes, monthly usage, hosted documents."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, LargeBinary, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with its offset, however the database returned it (SQLite keeps no time zone)."""
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).isoformat()


def new_id() -> str:
    return str(uuid.uuid4())


PROCESSING = "processing"
SUCCESS = "success"
ERROR = "error"
CANCELLED = "cancelled"
INTERRUPTED = "interrupted"
FINAL_STATUSES = frozenset({SUCCESS, ERROR, CANCELLED, INTERRUPTED})
# What clients see of a tool call; the stored entry also keeps its round and the result the model was told.
TOOL_CALL_FIELDS = ("call_id", "name", "arguments", "status", "result_preview", "error")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatSession(Base):
    __tablename__ = "chat_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500), default="")
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    revision: Mapped[int] = mapped_column(default=1)  # +1 on every change of title or context
    documents: Mapped[str] = mapped_column(String(10), default="client", server_default="client")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def to_dict(self, last_message: dict[str, Any] | None = None, message_count: int = 0) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "title": self.title,
            "context": self.context,
            "documents": self.documents,
            "revision": self.revision,
            "last_message": last_message,
            "message_count": message_count,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
        }


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    __table_args__ = (
        Index("ix_chat_messages_session_created", "session_id", "created_at"),
        # At most one running generation per session, enforced by the database
        # so that two gateways racing to start one cannot both win.
        Index(
            "uq_chat_messages_one_processing",
            "session_id",
            unique=True,
            postgresql_where=text("status = 'processing'"),
            sqlite_where=text("status = 'processing'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    content: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20))
    changes: Mapped[list[Any]] = mapped_column(default=list)
    usage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tool_calls: Mapped[list[Any] | None] = mapped_column(default=list)  # NULL in rows older than tools
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column()

    def to_dict(self, applied: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
        """The message as clients see it; `applied` holds the session's claimed change ids."""
        return message_dict(self, applied)


MESSAGE_FIELDS = ("id", "session_id", "user_id", "role", "content", "status", "changes", "usage", "tool_calls",
                  "error", "created_at", "completed_at")  # fmt: skip


def message_dict(message: Any, applied: set[str] | frozenset[str] = frozenset()) -> dict[str, Any]:
    """A message as clients see it, from a `ChatMessage` or a row with its `MESSAGE_FIELDS`."""
    return {
        "id": message.id,
        "session_id": message.session_id,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "changes": [
            {"change_id": c["change_id"], "changes": c["changes"], "applied": c["change_id"] in applied}
            for c in message.changes or []
        ],
        "tool_calls": [{key: call.get(key) for key in TOOL_CALL_FIELDS} for call in message.tool_calls or []],
        "usage": message.usage or {},
        "error": message.error,
        "created_at": iso(message.created_at),
        "completed_at": iso(message.completed_at) if message.completed_at else None,
    }


class AppliedChange(Base):
    """A change id claimed in a session: the durable twin of the Redis `applied` set."""

    __tablename__ = "applied_changes"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    change_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TenantUsage(Base):
    """A tenant's tokens in one month (`YYYY-MM`, UTC), added to by each generation's final write."""

    __tablename__ = "tenant_usage"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    generations: Mapped[int] = mapped_column(BigInteger, default=0)


class UserUsage(Base):
    """One user's share of `TenantUsage` (the user whose message started each generation)."""

    __tablename__ = "user_usage"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    generations: Mapped[int] = mapped_column(BigInteger, default=0)


class SessionDocument(Base):
    """A hosted document's stored state: one Yjs update holding the whole document (docs/protocol.md,
    "Collaborative documents"). `version` grows by one per write, so that two folds never overwrite each other."""

    __tablename__ = "session_documents"

    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    state: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
