"""Publisher pulls: feeds and remote folders the exchange polls, each item taken once, and
what every run did.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 20:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "pulls",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("publisher_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("vertical", sa.String(length=48), nullable=False),
        sa.Column("every_minutes", sa.Integer(), nullable=False),
        sa.Column("options", _json, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=32), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pulls")),
    )
    op.create_index("ix_pulls_publisher_id", "pulls", ["publisher_id"])
    op.create_index("ix_pulls_active_next_due_at", "pulls", ["active", "next_due_at"])
    op.create_table(
        "pull_items",
        sa.Column("pull_id", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("lead_id", sa.String(length=32), nullable=True),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("pull_id", "key", name=op.f("pk_pull_items")),
    )
    op.create_table(
        "pull_events",
        sa.Column("id", _big_id, autoincrement=True, nullable=False),
        sa.Column("pull_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", _json, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_events")),
    )
    op.create_index("ix_pull_events_pull_id_id", "pull_events", ["pull_id", "id"])


def downgrade() -> None:
    op.drop_table("pull_events")
    op.drop_table("pull_items")
    op.drop_table("pulls")
