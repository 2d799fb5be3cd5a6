"""API keys remember what they were made from, so revoking that ends them too.

token_jti: the sign-in (session token) the key, or its first ancestor, was made with;
parent_id: the key that made it, when a key made it.

Revision ID: 0003_key_lineage
Revises: 0002_protocols
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_key_lineage"
down_revision = "0002_protocols"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("token_jti", sa.String(64), nullable=True))
        batch.add_column(sa.Column("parent_id", sa.String(32), nullable=True))
        batch.create_index("ix_api_keys_token_jti", ["token_jti"])
        batch.create_index("ix_api_keys_parent_id", ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index("ix_api_keys_parent_id")
        batch.drop_index("ix_api_keys_token_jti")
        batch.drop_column("parent_id")
        batch.drop_column("token_jti")
