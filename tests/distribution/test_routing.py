"""Which campaigns get a lead: rotation, priority, filters, schedules, pauses, funds and caps."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

import pytest

from tests.conftest import Account, Market, auto_insurance_lead
from tests.distribution.buyers import FakeBuyer, serve

FIXED = {"model": "fixed", "cents_by_grade": {g: 1000 for g in "ABCD"}}


async def funded(market: Market, name: str, cents: int = 10_000_000) -> Account:
    buyer = await market.buyer(name=name)
    await market.fund(buyer, cents)
    return buyer


async def test_weighted_rotation_follows_the_weights_within_one_lead(market: Market) -> None:
    publisher = await market.publisher()
    await market.distribution(strategy="round_robin")
    async with serve(FakeBuyer(), FakeBuyer(), FakeBuyer()) as fakes:
        for i, (fake, weight) in enumerate(zip(fakes, (1, 2, 3), strict=True)):
            await market.campaign(
                await funded(market, f"B{i}"), fake.delivery(bid=False), pricing=FIXED, weight=weight
            )
        for _ in range(30):
            answer = await market.post_lead(publisher, auto_insurance_lead())
            assert answer.json()["status"] == "sold", (answer.status_code, answer.text)
    counts = [len(f.posts) for f in fakes]
    assert sum(counts) == 30
    for count, weight in zip(counts, (1, 2, 3), strict=True):
        assert abs(count - 30 * weight / 6) <= 1


async def test_rotation_skips_to_the_next_campaign_when_one_refuses(market: Market) -> None:
    publisher = await market.publisher()
    await market.distribution(strategy="round_robin")
    async with serve(FakeBuyer(accept=False), FakeBuyer()) as fakes:
        for i, fake in enumerate(fakes):
            await market.campaign(await funded(market, f"B{i}"), fake.delivery(bid=False), pricing=FIXED)
        answers = [await market.post_lead(publisher, auto_insurance_lead()) for _ in range(4)]
    assert {a.json()["status"] for a in answers} == {"sold"}
    assert len(fakes[1].posts) == 4


async def test_priority_serves_level_one_first_and_rotates_within_it(market: Market) -> None:
    publisher = await market.publisher()
    await market.distribution(strategy="priority")
    async with serve(FakeBuyer(), FakeBuyer(), FakeBuyer()) as fakes:
        await market.campaign(
            await funded(market, "P1a"), fakes[0].delivery(bid=False), pricing=FIXED, priority=1
        )
        await market.campaign(
            await funded(market, "P1b"), fakes[1].delivery(bid=False), pricing=FIXED, priority=1
        )
        await market.campaign(
            await funded(market, "P2"), fakes[2].delivery(bid=False), pricing=FIXED, priority=2
        )
        for _ in range(6):
            await market.post_lead(publisher, auto_insurance_lead())
    assert [len(f.posts) for f in fakes] == [3, 3, 0]


async def test_filters_choose_the_campaign(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=50.0), FakeBuyer(bid=10.0)) as fakes:
        await market.campaign(
            await funded(market, "NV only"),
            fakes[0].delivery(),
            filters=[{"field": "state", "op": "in", "value": ["NV"]}],
        )
        await market.campaign(
            await funded(market, "Toyotas"),
            fakes[1].delivery(),
            filters=[
                {"field": "vehicle_make", "op": "eq", "value": "toyota"},
                {"field": "zip", "op": "prefix", "value": ["941", "900"]},
                {"field": "vehicle_year", "op": "between", "value": [2010, 2026]},
                {"field": "grade", "op": "in", "value": ["A", "B", "C", "D"]},
            ],
        )
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold"
    assert (len(fakes[0].pings), len(fakes[1].pings)) == (0, 1)
    events = (
        await market.client.get(f"/v1/leads/{answer.json()['lead_id']}/events", headers=market.admin)
    ).json()
    eligibility = next(e for e in events["items"] if e["kind"] == "eligibility")
    assert list(eligibility["data"]["excluded"].values()) == ["filter state in ['NV']"]


async def test_closed_schedule_and_paused_campaign_get_nothing(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=50.0), FakeBuyer(bid=40.0), FakeBuyer(bid=10.0)) as fakes:
        await market.campaign(
            await funded(market, "Closed"),
            fakes[0].delivery(),
            schedule={"timezone": "America/New_York", "hours": {}},
        )
        paused = await market.campaign(await funded(market, "Paused"), fakes[1].delivery())
        change = await market.client.patch(
            f"/v1/campaigns/{paused['id']}", json={"active": False}, headers=market.admin
        )
        assert change.status_code == 200 and change.json()["active"] is False
        await market.campaign(await funded(market, "Open"), fakes[2].delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold"
    assert [len(f.pings) for f in fakes] == [0, 0, 1]


async def test_a_buyer_without_funds_is_not_offered_the_lead(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=50.0), FakeBuyer(bid=10.0)) as fakes:
        await market.campaign(
            await market.buyer(name="Broke"),
            fakes[0].delivery(),
            pricing={"model": "bid", "floor_cents": 100},
        )
        credit = await market.buyer(name="On credit", credit_limit_cents=5000)
        await market.campaign(credit, fakes[1].delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold"
    assert len(fakes[0].pings) == 0
    balance = (await market.client.get(f"/v1/accounts/{credit.id}/balance", headers=credit.auth)).json()
    assert balance["balance_cents"] == -1000 and balance["available_cents"] == 4000


async def test_a_bid_above_what_the_buyer_can_pay_is_not_sold(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=50.0)) as fakes:
        buyer = await market.buyer(name="Small")
        await market.fund(buyer, 1000)
        await market.campaign(buyer, fakes[0].delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "unsold"
    assert fakes[0].posts == []


async def test_caps_hold_exactly_when_40_leads_arrive_at_once(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(post_delay=0.02)) as fakes:
        await market.campaign(
            await funded(market, "Capped"),
            fakes[0].delivery(bid=False),
            pricing=FIXED,
            caps=[{"period": "day", "max_leads": 7}, {"period": "month", "max_spend_cents": 100_000}],
        )
        answers = await asyncio.gather(
            *(market.post_lead(publisher, auto_insurance_lead()) for _ in range(40))
        )
    statuses = Counter(a.json()["status"] for a in answers)
    assert statuses == {"sold": 7, "unsold": 33}
    assert len(fakes[0].posts) == 7


async def test_spend_cap_holds_exactly(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer()) as fakes:
        await market.campaign(
            await funded(market, "Spend"),
            fakes[0].delivery(bid=False),
            pricing=FIXED,
            caps=[{"period": "week", "max_spend_cents": 3500}],
        )
        answers = await asyncio.gather(
            *(market.post_lead(publisher, auto_insurance_lead()) for _ in range(10))
        )
    assert Counter(a.json()["status"] for a in answers)["sold"] == 3


async def test_funds_hold_exactly_under_concurrency(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(post_delay=0.02)) as fakes:
        buyer = await market.buyer(name="Exact")
        await market.fund(buyer, 4500)
        await market.campaign(buyer, fakes[0].delivery(bid=False), pricing=FIXED)
        answers = await asyncio.gather(
            *(market.post_lead(publisher, auto_insurance_lead()) for _ in range(20))
        )
    assert Counter(a.json()["status"] for a in answers)["sold"] == 4
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    assert (balance["balance_cents"], balance["reserved_cents"]) == (500, 0)


async def test_async_leads_nobody_can_take_are_settled_together_and_the_rest_sold(
    market: Market, caplog: pytest.LogCaptureFixture
) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer()) as fakes:
        await market.campaign(
            await funded(market, "Nevada"),
            fakes[0].delivery(bid=False),
            pricing=FIXED,
            filters=[{"field": "state", "op": "eq", "value": "NV"}],
        )
        leads = [auto_insurance_lead() for _ in range(11)] + [auto_insurance_lead(state="NV", zip="89501")]
        answers = await asyncio.gather(
            *(
                market.post_lead(publisher, lead, mode="async", headers={"Idempotency-Key": f"k{n}"})
                for n, lead in enumerate(leads)
            )
        )
        ids = [a.json()["lead_id"] for a in answers]
        for _ in range(100):
            statuses = []
            for lead_id in ids:
                answer = await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)
                statuses.append(answer.json()["status"])
            if "accepted" not in statuses:
                break
            await asyncio.sleep(0.05)
    assert statuses == ["unsold"] * 11 + ["sold"]
    events = (await market.client.get(f"/v1/leads/{ids[0]}/events", headers=market.admin)).json()["items"]
    assert [e["kind"] for e in events] == ["received", "validated", "graded", "eligibility", "unsold"]
    assert events[3]["data"]["excluded"]
    # The batch settled them: its failure would be logged and the leads redone one by one.
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
