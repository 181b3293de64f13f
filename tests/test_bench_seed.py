"""The growth benchmark's stored leads: rows the exchange reads as its own, apart from the load's."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from exchange.api.app import create_app
from exchange.bench.leads import AREA_CODES, bench_lead
from exchange.bench.seed import (
    SEED_AREA_CODES,
    SEED_CAPACITY,
    dedupe_hash,
    seed_email,
    seed_leads,
    seed_phone,
)
from exchange.pipeline.dedupe import claim_key
from exchange.settings import Settings
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer

SEEDED = 300


def test_seeded_people_are_never_the_loads_and_have_valid_us_phones() -> None:
    assert not set(SEED_AREA_CODES) & set(AREA_CODES)
    samples = [0, 1, 7, 8, 799, 6399, 6400, 999_999, SEED_CAPACITY - 1]
    samples += [n * len(SEED_AREA_CODES) + i for n in range(800) for i in range(len(SEED_AREA_CODES))]
    phones = {seed_phone(n) for n in samples}
    assert len(phones) == len(set(samples))
    for phone in phones:
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone, "US")), phone
    load_emails = {bench_lead(n)["email"] for n in range(0, 5_000_000, 997)}
    assert not load_emails & {seed_email(n) for n in range(0, 5_000_000, 991)}


async def _stored(database_url: str, lead_id: str) -> tuple[Any, list[Any], list[Any]]:
    """A lead's row, its events in order and its dedupe claims, as the exchange reads them."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            lead = (await conn.execute(select(t.leads).where(t.leads.c.id == lead_id))).one()
            e, c = t.lead_events.c, t.dedupe_claims.c
            events = list(
                await conn.execute(select(t.lead_events).where(e.lead_id == lead_id).order_by(e.id))
            )
            claims = list(await conn.execute(select(t.dedupe_claims).where(c.lead_id == lead_id)))
    finally:
        await engine.dispose()
    return lead, events, claims


def _phone_claim(phone: str) -> int:
    return claim_key("auto_insurance", "phone", dedupe_hash(phone))


async def _holder_of_phone(database_url: str, phone: str) -> str:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            c = t.dedupe_claims.c
            found = await conn.scalar(select(c.lead_id).where(c.key == _phone_claim(phone)))
    finally:
        await engine.dispose()
    assert found is not None
    return str(found)


async def test_seeded_leads_are_duplicates_to_intake_and_stored_like_its_own(
    settings: Settings, database_url: str
) -> None:
    # As the benchmark does it: the exchange is stopped while its database is seeded.
    async with AsyncTestClient(app=create_app(settings)) as client:
        publisher = await Market(client=client, admin=bearer(ADMIN_KEY)).publisher()
    now = datetime.now(UTC)
    seeded = await asyncio.to_thread(
        seed_leads, database_url, SEEDED, publisher_id=publisher.id, now=now, say=lambda _: None
    )
    assert seeded.leads == SEEDED and seeded.database_mb is not None and seeded.database_mb > 0

    newest = SEEDED - 1  # received a moment before `now`, inside the 30-day duplicate window
    async with AsyncTestClient(app=create_app(settings)) as client:
        market = Market(client=client, admin=bearer(ADMIN_KEY))
        same_phone = await market.post_lead(publisher, auto_insurance_lead(phone=seed_phone(newest)))
        assert same_phone.status_code == 409, same_phone.text
        assert same_phone.json()["status"] == "duplicate"
        same_email = await market.post_lead(publisher, auto_insurance_lead(email=seed_email(newest - 1)))
        assert same_email.status_code == 409, same_email.text
        # The oldest was received 90 days ago, outside the window: its phone is free again.
        old_phone = await market.post_lead(publisher, auto_insurance_lead(phone=seed_phone(0)))
        assert old_phone.status_code == 201, old_phone.text
        new_phone = await market.post_lead(publisher, auto_insurance_lead(phone=seed_phone(SEEDED)))
        assert new_phone.status_code == 201, new_phone.text
        assert new_phone.json()["status"] == "unsold"

    # A seeded lead beside one the exchange stored itself: the same shape in every table.
    seed_lead, seed_events, seed_claims = await _stored(
        database_url, await _holder_of_phone(database_url, seed_phone(newest))
    )
    lead, events, claims = await _stored(database_url, new_phone.json()["lead_id"])
    assert seed_lead.publisher_id == publisher.id and seed_lead.status == lead.status == "unsold"
    assert seed_lead.received_at < now < lead.received_at
    assert {k: type(v) for k, v in seed_lead.fields.items()} == {k: type(v) for k, v in lead.fields.items()}
    assert set(seed_lead.consent) <= set(lead.consent)
    assert seed_lead.grade in "ABCD" and isinstance(seed_lead.grade_reasons, list)
    assert [(e.kind, set(e.data)) for e in seed_events] == [(e.kind, set(e.data)) for e in events]
    assert {e.at for e in seed_events} == {seed_lead.received_at}
    assert {c.key for c in seed_claims} == {
        _phone_claim(seed_phone(newest)),
        claim_key("auto_insurance", "email", dedupe_hash(seed_email(newest))),
    }
    assert _phone_claim(seed_phone(SEEDED)) in {c.key for c in claims} and len(claims) == 2
    assert {c.seen_at for c in seed_claims} == {seed_lead.received_at}
