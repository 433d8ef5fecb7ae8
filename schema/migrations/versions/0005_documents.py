"""Documents hosted by the relay: a session's `documents` mode and each document's stored Yjs state.

Revision ID: 0005_documents
Revises: 0003_tenancy
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_documents"
down_revision = "0004_change_ids"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("documents", sa.String(10), nullable=False, server_default="client"))
    op.create_table(
        "session_documents",
        sa.Column(
            "session_id", sa.String(36), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("session_documents")
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("documents")
