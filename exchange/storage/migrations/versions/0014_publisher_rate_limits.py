"""A publisher's own rate limit ({"per_second", "burst"}), above or below the default.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 20:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("publishers") as batch:
        batch.add_column(sa.Column("rate_limit", _json, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("publishers") as batch:
        batch.drop_column("rate_limit")
