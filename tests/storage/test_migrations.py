"""Migrations that carry data: what a deployment stored before the upgrade still works after it."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from exchange.distribution.engine import distribute
from exchange.distribution.records import holds_of_lead
from exchange.pipeline.dedupe import claim_key
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from exchange.storage.migrate import alembic_config
from exchange.storage.outbox import Lease
from exchange.storage.writer import LeadWriter
from tests.conftest import distributor, fresh_postgres, service_or_skip
from tests.storage.test_writer import NOW, _write

# dedupe_keys as revisions 0001–0005 made it.
_old = sa.MetaData()
OLD_KEYS = sa.Table(
    "dedupe_keys",
    _old,
    sa.Column("vertical", sa.String(48), primary_key=True),
    sa.Column("kind", sa.String(8), primary_key=True),
    sa.Column("value_hash", sa.String(64), primary_key=True),
    sa.Column("lead_id", sa.String(32)),
    sa.Column("seen_at", t.UTCDateTime()),
)


@pytest.fixture(params=["sqlite", "postgresql"])
def bare_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, for migrating step by step."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    service_or_skip("PostgreSQL", "127.0.0.1", 5432)
    with fresh_postgres(f"exchange_migrate_{os.getpid()}") as url:
        yield url


def _hash(value: str) -> str:
    return hashlib.sha256(value.lower().encode()).hexdigest()


async def test_dedupe_keys_become_claims_that_still_catch_duplicates(bare_url: str) -> None:
    await asyncio.to_thread(command.upgrade, alembic_config(bare_url), "0005")
    recent, old = NOW - timedelta(days=1), NOW - timedelta(days=40)

    def key(vertical: str, kind: str, value: str, lead_id: str, seen_at: datetime) -> dict[str, Any]:
        return {
            "vertical": vertical,
            "kind": kind,
            "value_hash": _hash(value),
            "lead_id": lead_id,
            "seen_at": seen_at,
        }

    rows = [
        # Two filler pages' worth first, so the carry-over crosses its page boundaries.
        *(key("solar", "email", f"{n}@x.test", f"L{n}", old) for n in range(20_005)),
        key("solar", "phone", "+15550001111", "A", recent),
        key("solar", "phone", "+15550002222", "B", old),
        key("roofing", "phone", "+15550001111", "C", recent),
    ]
    engine = create_engine(bare_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(OLD_KEYS.insert(), rows)
    finally:
        await engine.dispose()

    await asyncio.to_thread(command.upgrade, alembic_config(bare_url), "head")

    engine = create_engine(bare_url)
    try:
        async with engine.connect() as conn:
            claims = {r.key: (r.lead_id, r.seen_at) for r in await conn.execute(sa.select(t.dedupe_claims))}
            tables = await conn.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        assert "dedupe_keys" not in tables
        assert len(claims) == len(rows)
        assert claims == {
            claim_key(r["vertical"], r["kind"], r["value_hash"]): (r["lead_id"], r["seen_at"]) for r in rows
        }
        # The writer reads the carried claims as its own: A's phone is still taken (in
        # solar, not in roofing's claim for the same number), B's is outside the window.
        writer = LeadWriter(engine)
        writer.start()
        try:
            again_a = await writer.write(_write(_hash("+15550001111")))
            again_b = await writer.write(_write(_hash("+15550002222")))
        finally:
            await writer.stop()
        assert again_a.answer.status == "duplicate"
        assert again_b.answer.status == "accepted"
        async with engine.connect() as conn:
            event = await conn.scalar(
                sa.select(t.lead_events.c.data).where(
                    t.lead_events.c.lead_id == again_a.answer.lead_id, t.lead_events.c.kind == "duplicate"
                )
            )
        assert event == {"duplicate_of": "A", "matched": "phone"}
    finally:
        await engine.dispose()


async def test_a_hold_noted_on_the_outbox_becomes_a_hold_that_the_takeover_releases(bare_url: str) -> None:
    """Revision 0007: a hold in flight was a note on the lead's outbox row; it becomes a hold
    the next distribution of the lead releases. Stored answers keep whether they were sync."""
    await asyncio.to_thread(command.upgrade, alembic_config(bare_url), "0006")
    held = {
        "campaign_id": "cmp_a",
        "buyer_id": "buy_a",
        "price_cents": 2500,
        "counters": [["day:x", 1, 2500]],
    }
    engine = create_engine(bare_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                t.publishers.insert().values(
                    id="pub_a",
                    name="P",
                    payout={"model": "revshare", "percent": 50},
                    inbox="p-a",
                    field_mapping={},
                    created_at=NOW,
                )
            )
            await conn.execute(
                t.leads.insert().values(
                    id="lead_a",
                    vertical="solar",
                    publisher_id="pub_a",
                    status="accepted",
                    grade="B",
                    grade_reasons=[],
                    fields={},
                    extra={},
                    errors=[],
                    payout_cents=0,
                    received_at=NOW,
                    updated_at=NOW,
                )
            )
            await conn.execute(
                t.buyers.insert().values(
                    id="buy_a", name="B", timezone="UTC", credit_limit_cents=0, created_at=NOW
                )
            )
            await conn.execute(
                t.account_balances.insert().values(
                    account_type="buyer", account_id="buy_a", balance_cents=10_000, reserved_cents=2500
                )
            )
            await conn.execute(
                t.cap_counters.insert().values(
                    campaign_id="cmp_a", period_key="day:x", leads=1, spend_cents=2500
                )
            )
            await conn.execute(
                t.outbox.insert().values(
                    job="distribute",
                    lead_id="lead_a",
                    payload={"held": held},
                    due_at=NOW,
                    attempts=1,
                    created_at=NOW,
                )
            )
            for key, code in (("k-sync", 201), ("k-async", 202), ("k-dup", 409)):
                await conn.execute(
                    sa.text(
                        "INSERT INTO idempotency_keys (publisher_id, key, fingerprint, lead_id, status_code,"
                        " answer, created_at) VALUES ('pub_a', :key, 'f', 'lead_a', :code, :answer, :at)"
                    ),
                    {
                        "key": key,
                        "code": code,
                        "answer": '{"lead_id":"lead_a","status":"accepted"}',
                        "at": NOW,
                    },
                )
    finally:
        await engine.dispose()

    await asyncio.to_thread(command.upgrade, alembic_config(bare_url), "head")

    async with distributor(bare_url) as ctx:
        async with ctx.engine.begin() as conn:
            (hold,) = await holds_of_lead(conn, "lead_a")
            payload = await conn.scalar(sa.select(t.outbox.c.payload))
            modes = dict(
                (await conn.execute(sa.select(t.idempotency_keys.c.key, t.idempotency_keys.c.mode))).all()
            )
            await conn.execute(
                sa.update(t.outbox).values(owner="lse_test", locked_until=NOW + timedelta(days=1))
            )
        answer = await distribute(ctx, "lead_a", lease=Lease("lse_test", NOW + timedelta(days=1)))
        async with ctx.engine.connect() as conn:
            reserved = await conn.scalar(sa.select(t.account_balances.c.reserved_cents))
            counted = await conn.scalar(sa.select(t.cap_counters.c.leads))
            released = await conn.scalar(sa.select(t.holds.c.state))
            kinds = (await conn.execute(sa.select(t.lead_events.c.kind))).scalars().all()
    assert (hold.state, hold.price_cents, hold.counters) == ("held", 2500, [("day:x", 1, 2500)])
    assert payload == {}
    assert modes == {"k-sync": "sync", "k-async": "async", "k-dup": None}
    assert answer is not None and answer.status == "unsold"
    assert (reserved, counted, released) == (0, 0, "released")
    assert "reservation_released" in kinds
