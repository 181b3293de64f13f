"""Ledger entries found by their lead: a lead's page and `?lead_id=` show its postings.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 02:30:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ledger_entries_lead_id", "ledger_entries", ["lead_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_lead_id", table_name="ledger_entries")
