"""The marketplace: unsold leads listed anonymised at an aged price; exactly one claim wins."""

from __future__ import annotations

import asyncio

from tests.conftest import Account, Market, ShiftableClock, auto_insurance_lead


async def unsold_lead(market: Market) -> tuple[str, dict[str, object]]:
    publisher = await market.publisher(payout={"model": "revshare", "percent": 50})
    lead = auto_insurance_lead()
    answer = await market.post_lead(publisher, lead)
    assert answer.json()["status"] == "unsold"
    return answer.json()["lead_id"], lead


async def test_unsold_leads_are_listed_anonymised_and_priced_by_age(
    market: Market, clock: ShiftableClock
) -> None:
    await market.distribution(
        floor_cents_by_grade={g: 1000 for g in "ABCD"},
        aged_pricing=[{"after_hours": 24, "percent": 60}, {"after_hours": 72, "percent": 25}],
    )
    lead_id, lead = await unsold_lead(market)
    buyer = await market.buyer()
    page = (
        await market.client.get("/v1/marketplace", params={"vertical": "auto_insurance"}, headers=buyer.auth)
    ).json()
    (listing,) = page["items"]
    assert listing["lead_id"] == lead_id and listing["price_cents"] == 1000 and listing["state"] == "CA"
    for value in (lead["email"], lead["phone"], lead["last_name"]):
        assert value not in str(listing)
    clock.advance(hours=30)
    aged = (await market.client.get("/v1/marketplace", headers=buyer.auth)).json()["items"][0]
    assert aged["price_cents"] == 600 and aged["age_hours"] >= 30
    clock.advance(hours=50)
    assert (await market.client.get("/v1/marketplace", headers=buyer.auth)).json()["items"][0][
        "price_cents"
    ] == 250
    assert (await market.client.get("/v1/marketplace", params={"state": "NV"}, headers=buyer.auth)).json()[
        "items"
    ] == []
    fresh = await market.client.get("/v1/marketplace", params={"max_age_hours": 1}, headers=buyer.auth)
    assert fresh.json()["items"] == []


async def test_exactly_one_claim_wins_and_is_charged(market: Market) -> None:
    await market.distribution(floor_cents_by_grade={g: 1000 for g in "ABCD"})
    lead_id, lead = await unsold_lead(market)
    buyers = [await market.buyer(name=f"B{i}") for i in range(6)]
    for buyer in buyers:
        await market.fund(buyer, 5000)
    answers = await asyncio.gather(
        *(market.client.post(f"/v1/marketplace/{lead_id}/claim", json={}, headers=b.auth) for b in buyers)
    )
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 5
    winner = next(a for a in answers if a.status_code == 201).json()
    assert winner["fields"]["email"] == lead["email"] and winner["sales"][0]["price_cents"] == 1000
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"already_sold"}
    balances = [
        (await market.client.get(f"/v1/accounts/{b.id}/balance", headers=market.admin)).json()[
            "balance_cents"
        ]
        for b in buyers
    ]
    assert sorted(balances) == [4000] + [5000] * 5
    assert (await market.client.get("/v1/marketplace", headers=buyers[0].auth)).json()["items"] == []


async def test_a_claim_without_funds_is_refused_and_the_lead_stays_listed(market: Market) -> None:
    await market.distribution(floor_cents_by_grade={g: 1000 for g in "ABCD"})
    lead_id, _ = await unsold_lead(market)
    buyer = await market.buyer()
    answer = await market.client.post(f"/v1/marketplace/{lead_id}/claim", json={}, headers=buyer.auth)
    assert answer.status_code == 402 and answer.json()["code"] == "insufficient_funds"
    assert [
        i["lead_id"] for i in (await market.client.get("/v1/marketplace", headers=buyer.auth)).json()["items"]
    ] == [lead_id]


async def _capped_campaign(market: Market, buyer: Account, max_leads: int) -> dict[str, object]:
    """A campaign of the buyer's in the vertical, made after the leads went unsold (it would
    have bought them otherwise); its endpoint is never called by a claim."""
    delivery = {
        "adapter": "http",
        "post": {
            "url": "http://127.0.0.1:9/post",
            "response": {"format": "json", "accepted": {"path": "status", "equals": "ok"}},
        },
    }
    return await market.campaign(buyer, delivery, caps=[{"period": "day", "max_leads": max_leads}])


async def test_a_claim_counts_against_the_campaigns_caps_and_one_beyond_them_is_refused(
    market: Market,
) -> None:
    await market.distribution(floor_cents_by_grade={g: 1000 for g in "ABCD"})
    lead_ids = [(await unsold_lead(market))[0] for _ in range(3)]
    buyer = await market.buyer()
    await market.fund(buyer, 100_000)
    campaign = await _capped_campaign(market, buyer, max_leads=2)
    answers = [
        await market.client.post(f"/v1/marketplace/{lead_id}/claim", json={}, headers=buyer.auth)
        for lead_id in lead_ids
    ]
    assert [a.status_code for a in answers] == [201, 201, 409]
    assert answers[2].json()["code"] == "cap_reached" and "max_leads 2" in answers[2].json()["message"]
    assert [a.json()["sales"][0]["campaign_id"] for a in answers[:2]] == [campaign["id"]] * 2
    listed = (await market.client.get("/v1/marketplace", headers=buyer.auth)).json()["items"]
    assert [i["lead_id"] for i in listed] == [lead_ids[2]]
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=buyer.auth)).json()
    assert (balance["balance_cents"], balance["reserved_cents"]) == (100_000 - 2000, 0)
    holds = (await market.client.get("/v1/holds", params={"buyer_id": buyer.id}, headers=market.admin)).json()
    assert sorted((h["source"], h["state"]) for h in holds["items"]) == [("pull", "sold")] * 2


async def test_a_claim_names_only_an_active_campaign_of_the_buyers_own(market: Market) -> None:
    await market.distribution(floor_cents_by_grade={g: 1000 for g in "ABCD"})
    lead_id, _ = await unsold_lead(market)
    owner, other = await market.buyer(name="owner"), await market.buyer(name="other")
    await market.fund(other, 10_000)
    campaign = await _capped_campaign(market, owner, max_leads=5)
    answer = await market.client.post(
        f"/v1/marketplace/{lead_id}/claim", json={"campaign_id": campaign["id"]}, headers=other.auth
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "campaign_id"
    outside = await market.client.post(f"/v1/marketplace/{lead_id}/claim", json={}, headers=other.auth)
    assert outside.status_code == 201 and outside.json()["sales"][0]["campaign_id"] == "marketplace"
