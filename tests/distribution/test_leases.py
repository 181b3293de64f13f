"""A lead's distribution is never taken over from a live process, however slow its buyers;
and one that lost its lease anyway stops.

The lease here is 0.6 s and the best buyer takes 2 s to answer its post: without renewed
leases the outbox runner would start a second distribution of the same lead meanwhile,
pinging and posting it again (and, with a cap or funds in between, selling it twice).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from exchange.settings import Settings
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import Market, auto_insurance_lead, exchange_settings
from tests.distribution.buyers import FakeBuyer, serve

LEASE_SECONDS = 0.6
POST_SECONDS = 2.0


@pytest.fixture
def settings(database_url: str) -> Settings:
    return exchange_settings(database_url, outbox_poll_seconds=0.05, outbox_lease_seconds=LEASE_SECONDS)


async def _market_with_a_slow_best_buyer(market: Market, fakes: list[FakeBuyer]) -> None:
    for i, fake in enumerate(fakes):
        buyer = await market.buyer(name=f"B{i}")
        await market.fund(buyer, 1_000_000)
        delivery = fake.delivery()
        delivery["post"]["timeout_ms"] = 5000  # the slow post is answered, not timed out
        await market.campaign(buyer, delivery)


async def _sales(market: Market, lead_id: str) -> list[int]:
    lead = (await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)).json()
    return [s["price_cents"] for s in lead["sales"]]


async def test_a_sync_sale_that_outlasts_the_lease_is_not_distributed_twice(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=30.0, post_delay=POST_SECONDS), FakeBuyer(bid=20.0)) as fakes:
        await _market_with_a_slow_best_buyer(market, fakes)
        answer = await market.post_lead(publisher, auto_insurance_lead())
        await asyncio.sleep(2 * LEASE_SECONDS)  # a takeover after the answer would show by now
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "sold"
    assert [len(f.pings) for f in fakes] == [1, 1]
    assert [len(f.posts) for f in fakes] == [1, 0]
    assert await _sales(market, answer.json()["lead_id"]) == [3000]


async def test_an_async_sale_that_outlasts_the_lease_is_not_distributed_twice(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=30.0, post_delay=POST_SECONDS), FakeBuyer(bid=20.0)) as fakes:
        await _market_with_a_slow_best_buyer(market, fakes)
        answer = await market.post_lead(publisher, auto_insurance_lead(), mode="async")
        assert answer.status_code == 202, answer.text
        lead_id = answer.json()["lead_id"]
        for _ in range(100):  # sold after the 2 s post; 10 s at most
            if await _sales(market, lead_id):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2 * LEASE_SECONDS)
    assert [len(f.pings) for f in fakes] == [1, 1]
    assert [len(f.posts) for f in fakes] == [1, 0]
    assert await _sales(market, lead_id) == [3000]


async def test_a_distribution_whose_lease_was_taken_over_stops_at_its_next_step(
    market: Market, database_url: str
) -> None:
    """A process that stalled past its lease (here: its row claimed by another process while
    a post is in flight) acts on the lead no further: after the refused post it posts to
    nobody; the lead goes on, down the same waterfall, under the lease of whoever holds it."""
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=30.0, accept=False, post_delay=1.0), FakeBuyer(bid=20.0)) as fakes:
        await _market_with_a_slow_best_buyer(market, fakes)
        answer = await market.post_lead(publisher, auto_insurance_lead(), mode="async")
        lead_id = answer.json()["lead_id"]
        for _ in range(100):
            if fakes[0].posts:
                break
            await asyncio.sleep(0.02)
        # Another process claims the row, as it would once this one's lease had lapsed.
        await _lease_row(database_url, lead_id, "lse_elsewhere", seconds=60)
        for _ in range(100):
            if "distribution_stopped" in await _events(market, lead_id):
                break
            await asyncio.sleep(0.05)
        posts_while_fenced = [len(f.posts) for f in fakes]
        # That process dies in turn: the lead is taken over again and sold.
        await _lease_row(database_url, lead_id, "lse_elsewhere", seconds=0)
        for _ in range(100):
            if await _sales(market, lead_id):
                break
            await asyncio.sleep(0.05)
    assert posts_while_fenced == [1, 0]
    assert await _sales(market, lead_id) == [2000]
    assert [len(f.pings) for f in fakes] == [1, 1]
    assert [len(f.posts) for f in fakes] == [1, 1]
    events = await _events(market, lead_id)
    assert events.count("distribution_stopped") == 1 and events.count("sold") == 1


async def _lease_row(database_url: str, lead_id: str, owner: str, *, seconds: float) -> None:
    o = t.outbox.c
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                update(t.outbox)
                .where(o.lead_id == lead_id, o.done_at.is_(None))
                .values(owner=owner, locked_until=datetime.now(UTC) + timedelta(seconds=seconds))
            )
    finally:
        await engine.dispose()


async def _events(market: Market, lead_id: str) -> list[str]:
    page = (await market.client.get(f"/v1/leads/{lead_id}/events", headers=market.admin)).json()
    return [e["kind"] for e in page["items"]]
