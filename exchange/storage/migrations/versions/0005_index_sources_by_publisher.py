"""Index sales, returns and dispositions by publisher, for source scores.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 15:35:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.create_index("ix_sales_publisher_id_sold_at", ["publisher_id", "sold_at"], unique=False)
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.create_index("ix_returns_publisher_id_status", ["publisher_id", "status"], unique=False)
    with op.batch_alter_table("dispositions", schema=None) as batch_op:
        batch_op.create_index("ix_dispositions_publisher_id_status", ["publisher_id", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dispositions", schema=None) as batch_op:
        batch_op.drop_index("ix_dispositions_publisher_id_status")
    with op.batch_alter_table("returns", schema=None) as batch_op:
        batch_op.drop_index("ix_returns_publisher_id_status")
    with op.batch_alter_table("sales", schema=None) as batch_op:
        batch_op.drop_index("ix_sales_publisher_id_sold_at")
