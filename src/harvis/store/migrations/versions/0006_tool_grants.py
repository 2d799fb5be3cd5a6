"""MCP servers an admin enabled for a user (tool_grants: one row per user and server name).

Revision ID: 0006_tool_grants
Revises: 0005_tool_calls
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_tool_grants"
down_revision = "0005_tool_calls"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tool_grants",
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("server", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "server"),
    )


def downgrade() -> None:
    op.drop_table("tool_grants")
