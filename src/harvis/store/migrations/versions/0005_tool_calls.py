"""An answer remembers the tools it used: messages.tool_calls, a JSON list of
{"name", "arguments", "result", "ok", "ms"} (harvis.tools.toolbox.ToolOutcome.as_json).

Revision ID: 0005_tool_calls
Revises: 0004_timers
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_tool_calls"
down_revision = "0004_timers"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("tool_calls", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("tool_calls")
