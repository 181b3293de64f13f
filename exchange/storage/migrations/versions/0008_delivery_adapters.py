"""Delivery adapters: webhook signing secrets, and batched file deliveries.

- `campaigns.webhook_secrets`: a webhook campaign's signing secrets, kept out of its settings.
- `file_batch_items` and `file_batches`: sold leads waiting for their campaign's next batched
  file, and the files, so a restart neither drops a lead nor puts it in two files.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 17:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("webhook_secrets", _json, nullable=True))
    op.create_table(
        "file_batch_items",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("lead_id", sa.String(length=32), nullable=False),
        sa.Column("request", _json, nullable=False),
        sa.Column("batch_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_batch_items")),
    )
    op.create_index(
        "ix_file_batch_items_campaign_id_batch_id", "file_batch_items", ["campaign_id", "batch_id"]
    )
    op.create_table(
        "file_batches",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("leads", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("file", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_batches")),
    )
    op.create_index("ix_file_batches_campaign_id", "file_batches", ["campaign_id"])
    op.create_index("ix_file_batches_state_due_at", "file_batches", ["state", "due_at"])


def downgrade() -> None:
    op.drop_table("file_batches")
    op.drop_table("file_batch_items")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("webhook_secrets")
