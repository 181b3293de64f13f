"""A lead's distribution is never taken over from a live process, however slow its buyers.

The lease here is 0.6 s and the best buyer takes 2 s to answer its post: without renewed
leases the outbox runner would start a second distribution of the same lead meanwhile,
pinging and posting it again (and, with a cap or funds in between, selling it twice).
"""

from __future__ import annotations

import asyncio

import pytest

from exchange.settings import Settings
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead
from tests.distribution.buyers import FakeBuyer, serve

LEASE_SECONDS = 0.6
POST_SECONDS = 2.0


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        admin_key=ADMIN_KEY,
        outbox_poll_seconds=0.05,
        outbox_lease_seconds=LEASE_SECONDS,
        source_score_seconds=0,
        allow_private_destinations=True,
    )


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
