"""Finance: months closed to postings, and the history of each close and reopening.

Payouts and adjustments need no tables of their own: they are ledger transactions.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 22:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "closed_periods",
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_by", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_table(
        "period_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("month", sa.String(7), nullable=False, index=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("period_events")
    op.drop_table("closed_periods")
