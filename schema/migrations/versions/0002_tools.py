"""Tool calls of assistant messages (README, "Tools").

Revision ID: 0002_tools
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_tools"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("tool_calls", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_column("tool_calls")
