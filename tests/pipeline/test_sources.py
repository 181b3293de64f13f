"""Source scores: computed once per publisher, then served while a refresh runs behind them."""

from __future__ import annotations

import asyncio

from exchange.pipeline.sources import SourceScores
from exchange.storage.db import create_engine
from tests.conftest import Market, ShiftableClock, auto_insurance_lead
from tests.distribution.buyers import FakeBuyer, serve

FIXED = {"model": "fixed", "cents_by_grade": {g: 2000 for g in "ABCD"}}


async def test_a_stale_score_is_served_while_it_is_refreshed(
    market: Market, database_url: str, clock: ShiftableClock
) -> None:
    publisher = await market.publisher()
    buyer = await market.buyer()
    await market.fund(buyer, 1_000_000)
    scores = SourceScores(create_engine(database_url), clock, cache_seconds=60)
    try:
        async with serve(FakeBuyer()) as (fake,):
            await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED)
            leads = [
                (await market.post_lead(publisher, auto_insurance_lead(sub_id="s1"))).json()
                for _ in range(12)
            ]
        # Concurrent first asks share one computation and one answer.
        first = await asyncio.gather(*(scores.score(publisher.id, "s1") for _ in range(5)))
        assert len(set(first)) == 1 and first[0] is not None
        for lead in leads[:6]:
            answer = await market.client.post(
                f"/v1/leads/{lead['lead_id']}/returns", json={"reason": "fraud"}, headers=buyer.auth
            )
            await market.client.post(
                f"/v1/returns/{answer.json()['id']}/decision", json={"approve": True}, headers=market.admin
            )
        assert await scores.score(publisher.id, "s1") == first[0]  # still fresh: cached
        clock.advance(seconds=61)
        assert await scores.score(publisher.id, "s1") == first[0]  # stale: served, refresh started
        for _ in range(100):
            await asyncio.sleep(0.05)
            refreshed = await scores.score(publisher.id, "s1")
            if refreshed != first[0]:
                break
        assert refreshed is not None and refreshed < first[0]
    finally:
        await scores.engine.dispose()
