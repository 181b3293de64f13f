"""Holds as durable state; lease tokens on the outbox; stored answers keep their mode.

- `holds`: what a buyer holds of a lead (caps and funds for one sale) and the state of
  that sale, so a process that dies during a post leaves a record another can settle.
- `outbox.owner`: the token of the lease under which a row is being worked on.
- `idempotency_keys.mode` replaces `status_code`: the storage keeps whether a request was
  sync or async, and the API alone chooses status codes. A stored 201 was a sync request
  (its answer is the lead's outcome), a 202 an async one; other answers were final.

Before this revision a hold in flight was a note on the lead's unfinished outbox row
(`payload.held`); each such note becomes a hold in state `held`, which the distribution
that takes the lead over releases, as the older code did.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 14:00:00.000000
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_json = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "holds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("lead_id", sa.String(length=32), nullable=False),
        sa.Column("campaign_id", sa.String(length=32), nullable=False),
        sa.Column("buyer_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("exclusive", sa.Boolean(), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("counters", _json, nullable=False),
        sa.Column("delivery_id", sa.String(length=32), nullable=True),
        sa.Column("request", _json, nullable=True),
        sa.Column("waterfall", _json, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holds")),
    )
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.create_index("ix_holds_lead_id", ["lead_id"], unique=False)
        batch_op.create_index(
            "ix_holds_uncertain",
            ["id"],
            unique=False,
            sqlite_where=sa.text("state = 'uncertain'"),
            postgresql_where=sa.text("state = 'uncertain'"),
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("owner", sa.String(length=32), nullable=True))
    _carry_held_notes()
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mode", sa.String(length=8), nullable=True))
    op.execute(
        "UPDATE idempotency_keys SET mode = CASE status_code WHEN 201 THEN 'sync' WHEN 202 THEN 'async' END"
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_column("status_code")


def _carry_held_notes() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text("SELECT id, lead_id, payload FROM outbox WHERE job = 'distribute' AND done_at IS NULL")
    ).all()
    holds = sa.table(
        "holds",
        *(
            sa.column(name)
            for name in (
                "id",
                "lead_id",
                "campaign_id",
                "buyer_id",
                "source",
                "state",
                "exclusive",
                "price_cents",
            )
        ),
        sa.column("counters", _json),
        sa.column("waterfall", _json),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    if conn.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    for row in rows:
        payload = json.loads(row.payload) if isinstance(row.payload, str) else row.payload
        held = (payload or {}).get("held")
        if not held:
            continue
        conn.execute(
            holds.insert().values(
                id=f"hold_{row.id}_carried",
                lead_id=row.lead_id,
                campaign_id=held["campaign_id"],
                buyer_id=held["buyer_id"],
                source="push",
                state="held",
                exclusive=False,
                price_cents=held["price_cents"],
                counters=held["counters"],
                waterfall=[],
                created_at=now,
                updated_at=now,
            )
        )
        conn.execute(
            sa.text("UPDATE outbox SET payload = :empty WHERE id = :id"), {"empty": "{}", "id": row.id}
        )


def downgrade() -> None:
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status_code", sa.Integer(), nullable=True))
    # The older code read only a sync request's 201 (to store its outcome there).
    op.execute(
        "UPDATE idempotency_keys SET status_code = CASE mode"
        " WHEN 'sync' THEN 201 WHEN 'async' THEN 202 ELSE 200 END"
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.alter_column("status_code", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("mode")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("owner")
    with op.batch_alter_table("holds", schema=None) as batch_op:
        batch_op.drop_index("ix_holds_uncertain")
        batch_op.drop_index("ix_holds_lead_id")
    op.drop_table("holds")
