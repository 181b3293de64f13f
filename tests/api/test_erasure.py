"""Erasing a person: gone from the lead, its events and the delivery audit; money and consent stay."""

from __future__ import annotations

from tests.conftest import Market, auto_insurance_lead
from tests.distribution.buyers import FakeBuyer, serve

FIXED = {"model": "fixed", "cents_by_grade": {g: 2000 for g in "ABCD"}}


async def test_erasure_removes_the_person_and_keeps_the_money_trail(market: Market) -> None:
    publisher = await market.publisher()
    buyer = await market.buyer()
    await market.fund(buyer, 10_000)
    lead = auto_insurance_lead(user_agent="Mozilla/5.0 (X11)")
    async with serve(FakeBuyer()) as (fake,):
        await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED)
        lead_id = (await market.post_lead(publisher, lead)).json()["lead_id"]
    erased = await market.client.delete(f"/v1/leads/{lead_id}/personal-data", headers=market.admin)
    assert erased.status_code == 200, erased.text
    assert {"first_name", "last_name", "email", "phone", "address", "ip_address"} <= set(
        erased.json()["fields"]
    )
    stored = (await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)).json()
    for key in ("first_name", "last_name", "email", "phone", "address", "ip_address", "user_agent"):
        assert stored["fields"][key] == "[erased]"
    assert stored["fields"]["zip"] == lead["zip"]
    assert stored["consent"]["given"] is True and stored["consent"]["erased_at"]
    assert stored["sales"][0]["price_cents"] == 2000
    everything = str(
        (await market.client.get(f"/v1/leads/{lead_id}/events", headers=market.admin)).json()
    ) + str(
        (await market.client.get("/v1/deliveries", params={"lead_id": lead_id}, headers=market.admin)).json()
    )
    for value in (lead["email"], lead["phone"], lead["last_name"], lead["ip_address"], "1 Market St"):
        assert value not in everything
    assert "[erased]" in everything
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    assert balance["balance_cents"] == 8000
    again = await market.client.delete(f"/v1/leads/{lead_id}/personal-data", headers=market.admin)
    assert again.status_code == 200 and again.json()["fields"] == []


async def test_only_operators_erase(market: Market) -> None:
    publisher = await market.publisher()
    lead_id = (await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"]
    assert (
        await market.client.delete(f"/v1/leads/{lead_id}/personal-data", headers=publisher.auth)
    ).status_code == 403
    assert (
        await market.client.delete("/v1/leads/lead_nope/personal-data", headers=market.admin)
    ).status_code == 404
