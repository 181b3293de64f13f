"""Publisher ping-post: each ping, the bid held for it, and the id its lead takes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 18:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "pings",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("publisher_id", sa.String(length=32), nullable=False),
        sa.Column("vertical", sa.String(length=48), nullable=False),
        sa.Column("fields", _json, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lead_id", sa.String(length=32), nullable=False),
        sa.Column("hold_id", sa.String(length=32), nullable=True),
        sa.Column("price_cents", sa.BigInteger(), nullable=True),
        sa.Column("payout_cents", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pings")),
    )
    op.create_index("ix_pings_publisher_id", "pings", ["publisher_id"])
    op.create_index("ix_pings_status_expires_at", "pings", ["status", "expires_at"])


def downgrade() -> None:
    op.drop_table("pings")
