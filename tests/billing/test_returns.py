"""Returns: within the window, once per sale, decided by operators; approval moves the money back."""

from __future__ import annotations

from tests.conftest import Account, Market, ShiftableClock, auto_insurance_lead
from tests.distribution.buyers import FakeBuyer, serve

FIXED = {"model": "fixed", "cents_by_grade": {g: 2500 for g in "ABCD"}}


async def sell_one(market: Market, fake: FakeBuyer, **campaign: object) -> tuple[Account, Account, str]:
    publisher = await market.publisher(payout={"model": "revshare", "percent": 60})
    buyer = await market.buyer()
    await market.fund(buyer, 100_000)
    await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED, **campaign)
    answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold", answer.text
    return publisher, buyer, answer.json()["lead_id"]


async def balance(market: Market, account_id: str) -> int:
    answer = await market.client.get(f"/v1/accounts/{account_id}/balance", headers=market.admin)
    return int(answer.json()["balance_cents"])


async def test_an_approved_return_credits_the_buyer_and_reverses_the_payout(market: Market) -> None:
    async with serve(FakeBuyer()) as (fake,):
        publisher, buyer, lead_id = await sell_one(market, fake)
    assert (await balance(market, buyer.id), await balance(market, publisher.id)) == (97_500, 1500)
    returned = await market.client.post(
        f"/v1/leads/{lead_id}/returns",
        json={"reason": "bad_phone", "note": "disconnected"},
        headers=buyer.auth,
    )
    assert returned.status_code == 201, returned.text
    assert returned.json()["status"] == "pending"
    decided = await market.client.post(
        f"/v1/returns/{returned.json()['id']}/decision", json={"approve": True}, headers=market.admin
    )
    assert decided.status_code == 200
    assert decided.json() == {"id": returned.json()["id"], "status": "approved"}
    assert (await balance(market, buyer.id), await balance(market, publisher.id)) == (100_000, 0)
    assert await balance(market, "exchange") == 0
    lead = (await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)).json()
    assert lead["payout_cents"] == 0
    kinds = [
        e["kind"]
        for e in (await market.client.get(f"/v1/leads/{lead_id}/events", headers=market.admin)).json()[
            "items"
        ]
    ]
    assert kinds[-3:] == ["return_requested", "returned", "ledger_posted"]
    again = await market.client.post(
        f"/v1/returns/{returned.json()['id']}/decision", json={"approve": True}, headers=market.admin
    )
    assert again.status_code == 409 and again.json()["code"] == "already_decided"
    assert await balance(market, buyer.id) == 100_000


async def test_a_rejected_return_moves_no_money(market: Market) -> None:
    async with serve(FakeBuyer()) as (fake,):
        publisher, buyer, lead_id = await sell_one(market, fake)
    returned = await market.client.post(
        f"/v1/leads/{lead_id}/returns", json={"reason": "other"}, headers=buyer.auth
    )
    assert await balance(market, publisher.id) == 1500
    decided = await market.client.post(
        f"/v1/returns/{returned.json()['id']}/decision",
        json={"approve": False, "note": "looks fine"},
        headers=market.admin,
    )
    assert decided.json()["status"] == "rejected"
    assert await balance(market, buyer.id) == 97_500
    assert await balance(market, publisher.id) == 1500


async def test_a_second_return_of_the_same_sale_is_refused(market: Market) -> None:
    async with serve(FakeBuyer()) as (fake,):
        _, buyer, lead_id = await sell_one(market, fake)
    first = await market.client.post(
        f"/v1/leads/{lead_id}/returns", json={"reason": "fraud"}, headers=buyer.auth
    )
    assert first.status_code == 201
    second = await market.client.post(
        f"/v1/leads/{lead_id}/returns", json={"reason": "fraud"}, headers=buyer.auth
    )
    assert second.status_code == 409
    assert second.json()["code"] == "already_returned"


async def test_a_return_after_the_window_is_refused(market: Market, clock: ShiftableClock) -> None:
    async with serve(FakeBuyer()) as (fake,):
        _, buyer, lead_id = await sell_one(market, fake, return_window_hours=24)
    clock.advance(hours=25)
    late = await market.client.post(
        f"/v1/leads/{lead_id}/returns", json={"reason": "bad_phone"}, headers=buyer.auth
    )
    assert late.status_code == 422
    assert late.json()["code"] == "return_window_closed"


async def test_only_the_buyer_of_the_lead_may_return_it(market: Market) -> None:
    async with serve(FakeBuyer()) as (fake,):
        publisher, _, lead_id = await sell_one(market, fake)
    stranger = await market.buyer(name="Stranger")
    answer = await market.client.post(
        f"/v1/leads/{lead_id}/returns", json={"reason": "fraud"}, headers=stranger.auth
    )
    assert answer.status_code == 404
    answer = await market.client.post(
        f"/v1/leads/{lead_id}/returns", json={"reason": "fraud"}, headers=publisher.auth
    )
    assert answer.status_code == 403
    bad = await market.client.post(
        f"/v1/leads/{lead_id}/returns", json={"reason": "meh"}, headers=stranger.auth
    )
    assert bad.status_code == 422


async def test_a_duplicate_the_exchange_can_confirm_is_approved_at_once(market: Market) -> None:
    publisher = await market.publisher()
    await market.distribution(duplicate_window_days=0)  # let the same person through twice
    buyer = await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer()) as (fake,):
        await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED)
        lead = auto_insurance_lead()
        await market.post_lead(publisher, lead)
        second = (await market.post_lead(publisher, {**lead, "email": "other@example.com"})).json()["lead_id"]
    answer = await market.client.post(
        f"/v1/leads/{second}/returns", json={"reason": "duplicate"}, headers=buyer.auth
    )
    assert answer.json()["status"] == "approved"
    assert await balance(market, buyer.id) == 100_000 - 2500
    pending = (
        await market.client.get("/v1/returns", params={"status": "pending"}, headers=market.admin)
    ).json()
    assert pending["items"] == []
