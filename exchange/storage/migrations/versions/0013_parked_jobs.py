"""Outbox rows whose attempts are spent are parked for operators: when, so they can be listed
(`GET /v1/jobs?state=failed`) and run again.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 19:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_outbox_failed_at", "outbox", ["failed_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_failed_at", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("failed_at")
