"""Publisher ping-post: a bid held for the publisher's ping, sold at that price when posted."""

from __future__ import annotations

from typing import Any

from exchange.distribution.pings import expire_pings
from exchange.storage.db import create_engine
from exchange.types import PERSONAL_FIELDS
from tests.conftest import Market, ShiftableClock, auto_insurance_lead
from tests.distribution.buyers import FakeBuyer, serve

CONTACT = PERSONAL_FIELDS


def partial(lead: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in lead.items() if k not in CONTACT and k != "consent"}


async def funded_bidder(market: Market, fake: FakeBuyer) -> Any:
    """A bidder whose campaign takes California only: a ping's zip names its state."""
    buyer = await market.buyer(name="Bidder")
    await market.fund(buyer, 100_000)
    await market.campaign(buyer, fake.delivery(), filters=[{"field": "state", "op": "in", "value": ["CA"]}])
    return buyer


async def test_a_pinged_lead_is_sold_at_the_ping_price(market: Market) -> None:
    publisher = await market.publisher(payout={"model": "revshare", "percent": 70})
    lead = auto_insurance_lead()
    async with serve(FakeBuyer(bid=15.0)) as (fake,):
        buyer = await funded_bidder(market, fake)
        pinged = await market.client.post(
            "/v1/pings", params={"vertical": "auto_insurance"}, json=partial(lead), headers=publisher.auth
        )
        assert pinged.status_code == 200, pinged.text
        ping = pinged.json()
        assert (ping["status"], ping["payout_cents"]) == ("bid", 1050) and ping["expires_at"]
        held = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
        assert held["reserved_cents"] == 1500
        fake.bid = 1.0  # the buyer's mind changes after the ping: the held price stands
        posted = await market.client.post(
            "/v1/posts", json={"ping_id": ping["ping_id"], "lead": lead}, headers=publisher.auth
        )
    assert posted.status_code == 201, posted.text
    answer = posted.json()
    assert (answer["status"], answer["payout_cents"]) == ("sold", 1050)
    assert len(fake.pings) == 1 and len(fake.posts) == 1
    assert "email" not in fake.pings[0].fields() and fake.posts[0].fields()["email"] == lead["email"]
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    assert (balance["balance_cents"], balance["reserved_cents"]) == (100_000 - 1500, 0)
    again = await market.client.post(
        "/v1/posts", json={"ping_id": ping["ping_id"], "lead": lead}, headers=publisher.auth
    )
    assert again.status_code == 409 and again.json()["code"] == "ping_already_posted"


async def test_a_ping_refuses_contact_details_and_a_post_its_contradictions(market: Market) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead()
    with_phone = await market.client.post(
        "/v1/pings?vertical=auto_insurance",
        json={**partial(lead), "phone": lead["phone"]},
        headers=publisher.auth,
    )
    assert with_phone.status_code == 422 and with_phone.json()["errors"][0] == {
        "field": "phone",
        "code": "contact_in_ping",
        "message": "a ping carries no contact details; post them",
    }
    async with serve(FakeBuyer(bid=9.0)) as (fake,):
        await funded_bidder(market, fake)
        ping = (
            await market.client.post(
                "/v1/pings?vertical=auto_insurance", json=partial(lead), headers=publisher.auth
            )
        ).json()
        moved = await market.client.post(
            "/v1/posts",
            json={"ping_id": ping["ping_id"], "lead": {**lead, "zip": "10001"}},
            headers=publisher.auth,
        )
    assert moved.status_code == 422 and moved.json()["errors"][0]["code"] == "ping_mismatch"
    assert moved.json()["errors"][0]["field"] == "zip"
    other = await market.publisher(name="Other")
    stolen = await market.client.post(
        "/v1/posts", json={"ping_id": ping["ping_id"], "lead": lead}, headers=other.auth
    )
    assert stolen.status_code == 404


async def test_an_expired_ping_is_refused_and_its_hold_released(
    market: Market, clock: ShiftableClock, database_url: str
) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead()
    async with serve(FakeBuyer(bid=20.0)) as (fake,):
        buyer = await funded_bidder(market, fake)
        ping = (
            await market.client.post(
                "/v1/pings?vertical=auto_insurance", json=partial(lead), headers=publisher.auth
            )
        ).json()
        clock.advance(seconds=600)
        late = await market.client.post(
            "/v1/posts", json={"ping_id": ping["ping_id"], "lead": lead}, headers=publisher.auth
        )
    assert late.status_code == 422 and late.json()["errors"][0]["code"] == "ping_expired"
    assert fake.posts == []
    engine = create_engine(database_url)
    try:
        assert await expire_pings(engine, clock()) == 1
        assert await expire_pings(engine, clock()) == 0
    finally:
        await engine.dispose()
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    assert (balance["balance_cents"], balance["reserved_cents"]) == (100_000, 0)


async def test_a_posted_lead_that_is_refused_gives_the_held_bid_back(market: Market) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead()
    async with serve(FakeBuyer(bid=20.0)) as (fake,):
        buyer = await funded_bidder(market, fake)
        ping = (
            await market.client.post(
                "/v1/pings?vertical=auto_insurance", json=partial(lead), headers=publisher.auth
            )
        ).json()
        refused = await market.client.post(
            "/v1/posts",
            json={"ping_id": ping["ping_id"], "lead": {**lead, "email": "not an address"}},
            headers=publisher.auth,
        )
    assert refused.status_code == 422 and refused.json()["status"] == "rejected"
    assert fake.posts == []
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    assert (balance["balance_cents"], balance["reserved_cents"]) == (100_000, 0)
