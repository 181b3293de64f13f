"""The group-commit writer: concurrent leads share transactions, each answered after its commit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text

from exchange.ids import new_id
from exchange.pipeline.dedupe import as_duplicate, claim_key
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from exchange.storage.outbox import distribution_row
from exchange.storage.writer import LeadWrite, LeadWriter
from exchange.types import LeadAnswer

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _write(phone_hash: str | None = None, idempotency: tuple[str, str, str] | None = None) -> LeadWrite:
    lead_id = new_id("lead")
    row: dict[str, Any] = {
        "id": lead_id,
        "vertical": "solar",
        "publisher_id": "pub_x",
        "sub_id": None,
        "external_id": None,
        "status": "accepted",
        "grade": "B",
        "grade_score": 60,
        "grade_reasons": [],
        "fields": {},
        "consent": None,
        "extra": {},
        "errors": [],
        "payout_cents": 0,
        "received_at": NOW,
        "updated_at": NOW,
    }
    return LeadWrite(
        lead=row,
        events=[{"lead_id": lead_id, "kind": "received", "at": NOW, "data": {}}],
        answer=LeadAnswer(lead_id=lead_id, status="accepted", grade="B"),
        outbox=distribution_row(lead_id, NOW),
        dedupe=[("phone", claim_key("solar", "phone", phone_hash))] if phone_hash else [],
        window_start=NOW - timedelta(days=30),
        if_duplicate=as_duplicate,
        idempotency=idempotency,
    )


async def _counts(engine: Any) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        leads = await conn.scalar(select(func.count()).select_from(t.leads))
        events = await conn.scalar(select(func.count()).select_from(t.lead_events))
        outbox = await conn.scalar(select(func.count()).select_from(t.outbox))
    return int(leads or 0), int(events or 0), int(outbox or 0)


async def test_concurrent_leads_are_committed_together(database_url: str) -> None:
    engine = create_engine(database_url)
    writer = LeadWriter(engine, max_batch=256)
    writer.start()
    try:
        results = await asyncio.gather(*(writer.write(_write(f"h{i}")) for i in range(200)))
    finally:
        await writer.stop()
    assert {r.answer.status for r in results} == {"accepted"}
    assert all(r.earlier is None for r in results)
    assert await _counts(engine) == (200, 200, 200)
    assert writer.written == 200
    assert writer.commits < 50  # group commit: far fewer transactions than leads
    await engine.dispose()


async def test_a_duplicate_inside_one_batch_is_caught(database_url: str) -> None:
    engine = create_engine(database_url)
    writer = LeadWriter(engine)
    writer.start()
    try:
        results = await asyncio.gather(*(writer.write(_write("same")) for _ in range(20)))
    finally:
        await writer.stop()
    assert sorted(r.answer.status for r in results) == ["accepted"] + ["duplicate"] * 19
    leads, _, outbox = await _counts(engine)
    assert (leads, outbox) == (20, 1)  # duplicates are kept for reporting, owe no distribution
    await engine.dispose()


async def test_a_key_already_stored_is_reported_with_its_first_answer_and_nothing_written(
    database_url: str,
) -> None:
    """The writer does not decide replays: it reports the key's first lead, fingerprint, mode
    and answer, in the same batch or a later one, and writes nothing for the repeat."""
    engine = create_engine(database_url)
    writer = LeadWriter(engine)
    writer.start()
    key = ("pub_x", "idempotency_key:k1")
    try:
        first, same_batch = await asyncio.gather(
            writer.write(_write("k-a", (*key, "fp-1"))), writer.write(_write("k-b", (*key, "fp-2")))
        )
        later = await writer.write(_write("k-c", (*key, "fp-3")))
    finally:
        await writer.stop()
    assert first.earlier is None
    for repeat in (same_batch, later):
        assert repeat.earlier is not None
        assert (repeat.earlier.lead_id, repeat.earlier.fingerprint) == (first.answer.lead_id, "fp-1")
        assert repeat.earlier.mode == "async" and repeat.answer == first.answer
    assert await _counts(engine) == (1, 1, 1)
    await engine.dispose()


async def test_a_failing_item_does_not_sink_its_batch(database_url: str) -> None:
    engine = create_engine(database_url)
    writer = LeadWriter(engine)
    writer.start()
    good = [_write() for _ in range(10)]
    bad = _write()
    bad.lead = {**bad.lead, "id": good[0].lead["id"]}  # primary key clash
    try:
        results = await asyncio.gather(*(writer.write(w) for w in [*good, bad]), return_exceptions=True)
    finally:
        await writer.stop()
    assert all(not isinstance(r, BaseException) for r in results[:10])
    assert isinstance(results[10], Exception)
    assert (await _counts(engine))[0] == 10
    await engine.dispose()


async def test_batches_in_flight_together_still_accept_each_person_once(database_url: str) -> None:
    """Several group commits at once (PostgreSQL's default): a key two batches both claim
    goes to one lead; the other batch is redone and finds the duplicate."""
    engine = create_engine(database_url)
    writer = LeadWriter(engine, max_batch=3, concurrency=4)
    writer.start()
    try:
        results = await asyncio.gather(*(writer.write(_write(f"p{i % 10}")) for i in range(40)))
    finally:
        await writer.stop()
    by_phone: dict[str, list[str]] = {}
    for i, result in enumerate(results):
        by_phone.setdefault(f"p{i % 10}", []).append(result.answer.status)
    assert all(sorted(s) == ["accepted"] + ["duplicate"] * 3 for s in by_phone.values()), by_phone
    leads, _, outbox = await _counts(engine)
    assert (leads, outbox) == (40, 10)
    assert writer.commits > 10  # many small batches, several of them in flight together
    await engine.dispose()


async def test_a_kept_connection_that_died_is_replaced_and_the_lead_still_written(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """On PostgreSQL the writer keeps its connections between group commits; when the server
    ends one (a restart, an idle timeout), the next write still commits, on a new one."""
    engine = create_engine(postgres_url)
    writer = LeadWriter(engine)
    writer.start()
    try:
        first = await writer.write(_write(new_id("kept")))
        async with engine.connect() as conn:
            ended = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        assert ended >= 1  # the writer's kept connection among them
        second = await writer.write(_write(new_id("kept")))
    finally:
        await writer.stop()
    assert (first.answer.status, second.answer.status) == ("accepted", "accepted")
    ids = [first.answer.lead_id, second.answer.lead_id]
    async with engine.connect() as conn:
        stored = await conn.scalar(select(func.count()).select_from(t.leads).where(t.leads.c.id.in_(ids)))
    assert stored == 2
    # It was the kept connection the second write found dead, and the fallback wrote it.
    assert "group commit of 1 leads failed" in caplog.text
    await engine.dispose()
