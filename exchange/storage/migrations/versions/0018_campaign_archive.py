"""Campaigns are archived, never deleted: the moment one stopped for good; and a campaign's
sales by time, for its usage today.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_sales_campaign_id_sold_at", "sales", ["campaign_id", "sold_at"])


def downgrade() -> None:
    op.drop_index("ix_sales_campaign_id_sold_at", table_name="sales")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("archived_at")
