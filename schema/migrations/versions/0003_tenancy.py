"""Session revisions; monthly token usage per tenant and per user.

Revision ID: 0003_tenancy
Revises: 0002_tools
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_tenancy"
down_revision = "0002_tools"
branch_labels = None
depends_on = None


def _usage_columns() -> list[sa.Column]:
    return [
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("generations", sa.BigInteger(), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("chat_sessions") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "tenant_usage",
        sa.Column("tenant_id", sa.String(200), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        *_usage_columns(),
    )
    op.create_table(
        "user_usage",
        sa.Column("tenant_id", sa.String(200), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("user_id", sa.String(200), primary_key=True),
        *_usage_columns(),
    )


def downgrade() -> None:
    op.drop_table("user_usage")
    op.drop_table("tenant_usage")
    with op.batch_alter_table("chat_sessions") as batch:
        batch.drop_column("revision")
