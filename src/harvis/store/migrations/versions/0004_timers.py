"""Timers and reminders, per user; announced when due (fired_at), or cancelled.

Revision ID: 0004_timers
Revises: 0003_key_lineage
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_timers"
down_revision = "0003_key_lineage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "timers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("text", sa.String(500), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_id", sa.String(32), nullable=True),
    )
    op.create_index("ix_timers_user_due", "timers", ["user_id", "due_at"])
    op.create_index("ix_timers_due", "timers", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_timers_due", table_name="timers")
    op.drop_index("ix_timers_user_due", table_name="timers")
    op.drop_table("timers")
