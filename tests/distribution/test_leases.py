"""A lead's distribution is never taken over from a live process, however slow its buyers.

The lease here is 0.6 s and the best buyer takes 2 s to answer its post: without renewed
leases the outbox runner would start a second distribution of the same lead meanwhile,
pinging and posting it again (and, with a cap or funds in between, selling it twice).
"""

from __future__ import annotations

import asyncio

import pytest

from exchange.distribution.engine import distribute
from exchange.settings import Settings
from tests.conftest import Market, auto_insurance_lead, distributor, exchange_settings
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


async def test_overlapping_distributions_never_sell_a_lead_past_its_limit(
    market: Market, database_url: str
) -> None:
    """Should two distributions of a lead ever overlap (a process stalled past its lease), the
    sale that would exceed the lead's limit is refused in its own transaction: nobody pays."""
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=30.0, post_delay=1.0), FakeBuyer(bid=20.0)) as fakes:
        await _market_with_a_slow_best_buyer(market, fakes[1:])
        # A daily cap of one lead: only one distribution can reserve the best buyer.
        best = await market.buyer(name="best")
        await market.fund(best, 1_000_000)
        delivery = fakes[0].delivery()
        delivery["post"]["timeout_ms"] = 5000
        await market.campaign(best, delivery, caps=[{"period": "day", "max_leads": 1}])
        answer = await market.post_lead(publisher, auto_insurance_lead(), mode="async")
        lead_id = answer.json()["lead_id"]
        # The runner distributes the lead; a second distributor on the same database (as
        # another process would be) runs beside it.
        async with distributor(database_url) as other:
            second = await distribute(other, lead_id)
        for _ in range(50):  # the best buyer's post ends after 1 s
            events = await _events(market, lead_id)
            if "sale_refused" in events:
                break
            await asyncio.sleep(0.1)
    assert second is not None and second.status == "sold"
    assert await _sales(market, lead_id) == [2000]
    assert [len(f.posts) for f in fakes] == [1, 1]
    assert events.count("sale_refused") == 1 and events.count("sold") == 1
    balance = (await market.client.get(f"/v1/accounts/{best.id}/balance", headers=market.admin)).json()
    assert (balance["balance_cents"], balance["reserved_cents"]) == (1_000_000, 0)


async def _events(market: Market, lead_id: str) -> list[str]:
    page = (await market.client.get(f"/v1/leads/{lead_id}/events", headers=market.admin)).json()
    return [e["kind"] for e in page["items"]]
