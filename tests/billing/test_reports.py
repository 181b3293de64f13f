"""Source reports and the closed loop: what buyers send back changes the next lead's grade."""

from __future__ import annotations

from tests.conftest import Market, auto_insurance_lead
from tests.distribution.buyers import FakeBuyer, serve

FIXED = {"model": "fixed", "cents_by_grade": {g: 2000 for g in "ABCD"}}


async def test_the_source_report_adds_up_per_publisher_and_sub_id(market: Market) -> None:
    publisher = await market.publisher(payout={"model": "revshare", "percent": 50})
    buyer = await market.buyer()
    await market.fund(buyer, 1_000_000)
    async with serve(FakeBuyer()) as (fake,):
        await market.campaign(
            buyer,
            fake.delivery(bid=False),
            pricing=FIXED,
            filters=[{"field": "sub_id", "op": "ne", "value": "unsellable"}],
        )
        sold = [
            (await market.post_lead(publisher, auto_insurance_lead(sub_id="fb"))).json()["lead_id"]
            for _ in range(4)
        ]
        await market.post_lead(publisher, auto_insurance_lead(sub_id="unsellable"))
        await market.post_lead(publisher, auto_insurance_lead(sub_id="fb", phone="12"))  # rejected
    returned = await market.client.post(
        f"/v1/leads/{sold[0]}/returns", json={"reason": "fraud"}, headers=buyer.auth
    )
    await market.client.post(
        f"/v1/returns/{returned.json()['id']}/decision", json={"approve": True}, headers=market.admin
    )
    await market.client.post(
        f"/v1/leads/{sold[1]}/dispositions",
        json={"status": "sold", "revenue_cents": 50_000},
        headers=buyer.auth,
    )
    await market.client.post(
        f"/v1/leads/{sold[2]}/dispositions", json={"status": "contacted"}, headers=buyer.auth
    )
    report = (await market.client.get("/v1/reports/sources", headers=market.admin)).json()
    rows = {r["sub_id"]: r for r in report["rows"]}
    fb = rows["fb"]
    assert (fb["leads"], fb["valid"], fb["sold"], fb["sales"], fb["returns"]) == (5, 4, 4, 4, 1)
    assert fb["sell_through"] == 1.0 and fb["return_rate"] == 0.25
    assert fb["dispositions"]["sold"] == 1 and fb["dispositions"]["contacted"] == 1
    assert fb["conversion"] == 0.25
    assert (fb["revenue_cents"], fb["payout_cents"], fb["margin_cents"]) == (6000, 3000, 3000)
    assert rows["unsellable"]["sold"] == 0 and rows["unsellable"]["sell_through"] == 0.0
    mine = (await market.client.get("/v1/reports/sources", headers=publisher.auth)).json()
    assert {r["publisher_id"] for r in mine["rows"]} == {publisher.id}
    assert (await market.client.get("/v1/reports/sources", headers=buyer.auth)).status_code == 403


async def test_a_source_with_many_returns_grades_lower_next_time(market: Market) -> None:
    publisher = await market.publisher()
    buyer = await market.buyer()
    await market.fund(buyer, 1_000_000)
    async with serve(FakeBuyer()) as (fake,):
        await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED)
        before = (await market.post_lead(publisher, auto_insurance_lead(sub_id="s1"))).json()
        leads = [
            (await market.post_lead(publisher, auto_insurance_lead(sub_id="s1"))).json() for _ in range(11)
        ]
        for lead in leads[:6]:
            answer = await market.client.post(
                f"/v1/leads/{lead['lead_id']}/returns", json={"reason": "fraud"}, headers=buyer.auth
            )
            await market.client.post(
                f"/v1/returns/{answer.json()['id']}/decision", json={"approve": True}, headers=market.admin
            )
        after = (await market.post_lead(publisher, auto_insurance_lead(sub_id="s1"))).json()
    reasons = (await market.client.get(f"/v1/leads/{after['lead_id']}", headers=market.admin)).json()[
        "grade_reasons"
    ]
    assert "source:0.00" in reasons
    first = (await market.client.get(f"/v1/leads/{before['lead_id']}", headers=market.admin)).json()[
        "grade_reasons"
    ]
    assert "source:unknown" in first
    assert "ABCD".index(after["grade"]) > "ABCD".index(before["grade"])
