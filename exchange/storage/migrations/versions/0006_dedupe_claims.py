"""Dedupe claims under one 63-bit key, replacing dedupe_keys.

One integer primary key holds each claim in a single B-tree (SQLite's rowid table), in
about a quarter of the space dedupe_keys took for it in its rows and in the index of
(vertical, kind, value_hash) beside them. Every claim is carried over: the key is computed
from the stored hash, as the writer computes it (exchange.storage.writer.claim_key, frozen
here as of this revision). It takes about 45 s for two million claims (a million leads)
on SQLite on the machine of docs/performance.md.

Downgrading recreates dedupe_keys empty: a claim's key cannot be turned back into the
hash it came from, so duplicate detection starts afresh after a downgrade.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 17:40:00.000000
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Rows carried over per statement.
CHUNK = 10_000


def _claim_key(vertical: str, kind: str, value_hash: str) -> int:
    digest = hashlib.sha256(f"{vertical}\x1f{kind}\x1f{value_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def upgrade() -> None:
    op.create_table(
        "dedupe_claims",
        sa.Column(
            "key", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=False, nullable=False
        ),
        sa.Column("lead_id", sa.String(length=32), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_dedupe_claims")),
    )
    conn = op.get_bind()
    # Keyset pages in primary-key order; seen_at goes back as it came (the dialect's own form).
    page = sa.text(
        "SELECT vertical, kind, value_hash, lead_id, seen_at FROM dedupe_keys"
        " WHERE (vertical, kind, value_hash) > (:vertical, :kind, :value_hash)"
        " ORDER BY vertical, kind, value_hash LIMIT :limit"
    )
    # Two contacts whose keys collide keep the later claim, as the writer would have.
    carry = sa.text(
        "INSERT INTO dedupe_claims (key, lead_id, seen_at) VALUES (:key, :lead_id, :seen_at)"
        " ON CONFLICT (key) DO UPDATE SET lead_id = excluded.lead_id, seen_at = excluded.seen_at"
        " WHERE dedupe_claims.seen_at < excluded.seen_at"
    )
    after = {"vertical": "", "kind": "", "value_hash": ""}
    while True:
        rows = conn.execute(page, {**after, "limit": CHUNK}).all()
        if not rows:
            break
        conn.execute(
            carry,
            [
                {
                    "key": _claim_key(r.vertical, r.kind, r.value_hash),
                    "lead_id": r.lead_id,
                    "seen_at": r.seen_at,
                }
                for r in rows
            ],
        )
        last = rows[-1]
        after = {"vertical": last.vertical, "kind": last.kind, "value_hash": last.value_hash}
    op.drop_table("dedupe_keys")


def downgrade() -> None:
    op.create_table(
        "dedupe_keys",
        sa.Column("vertical", sa.String(length=48), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value_hash", sa.String(length=64), nullable=False),
        sa.Column("lead_id", sa.String(length=32), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("vertical", "kind", "value_hash", name=op.f("pk_dedupe_keys")),
    )
    op.drop_table("dedupe_claims")
