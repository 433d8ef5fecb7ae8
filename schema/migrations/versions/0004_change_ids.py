"""Message-scoped change ids: sha256(message id + "\\n" + canonical JSON) instead of the JSON alone.

Every stored message's changes get their new ids; a session's claims follow them, so that each change shown
applied before is still applied (a claim of content-addressed id X covered every message proposing X).

The id is computed here, not imported: a migration keeps meaning what it meant when it was written.

Revision ID: 0004_change_ids
Revises: 0003_tenancy
"""

import hashlib
import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_change_ids"
down_revision = "0003_tenancy"
branch_labels = None
depends_on = None

MESSAGES = sa.table(
    "chat_messages", sa.column("id", sa.String), sa.column("session_id", sa.String), sa.column("changes", sa.JSON)
)
APPLIED = sa.table(
    "applied_changes",
    sa.column("session_id", sa.String),
    sa.column("change_id", sa.String),
    sa.column("user_id", sa.String),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _canonical(changes: Any) -> bytes:
    return json.dumps(changes, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _scoped(message_id: str, changes: Any) -> str:
    return hashlib.sha256(message_id.encode("utf-8") + b"\n" + _canonical(changes)).hexdigest()


def _content_only(message_id: str, changes: Any) -> str:
    return hashlib.sha256(_canonical(changes)).hexdigest()


def _rewrite(new_id: Callable[[str, Any], str]) -> None:
    """Give every stored change `new_id`, and move each session's claims from the old ids to the new ones."""
    connection = op.get_bind()
    renamed: dict[tuple[str, str], set[str]] = {}  # (session, old id) -> its new ids
    rows = connection.execute(sa.select(MESSAGES.c.id, MESSAGES.c.session_id, MESSAGES.c.changes)).all()
    for message_id, session_id, changes in rows:
        if not changes:
            continue
        rewritten = []
        for change in changes:
            fresh = new_id(message_id, change["changes"])
            renamed.setdefault((session_id, change["change_id"]), set()).add(fresh)
            rewritten.append({**change, "change_id": fresh})
        connection.execute(sa.update(MESSAGES).where(MESSAGES.c.id == message_id).values(changes=rewritten))
    moved: dict[tuple[str, str], Any] = {}
    for claim in connection.execute(sa.select(APPLIED)).all():
        fresh_ids = renamed.get((claim.session_id, claim.change_id))
        if not fresh_ids:
            continue  # a change no stored message proposes (an early one): its claim stays as it was
        connection.execute(
            sa.delete(APPLIED).where(APPLIED.c.session_id == claim.session_id, APPLIED.c.change_id == claim.change_id)
        )
        for fresh in fresh_ids:
            moved.setdefault((claim.session_id, fresh), claim)
    if moved:
        connection.execute(
            sa.insert(APPLIED),
            [
                {"session_id": session_id, "change_id": fresh, "user_id": claim.user_id, "created_at": claim.created_at}
                for (session_id, fresh), claim in moved.items()
            ],
        )


def upgrade() -> None:
    _rewrite(_scoped)


def downgrade() -> None:
    _rewrite(_content_only)
