"""Source reports and the closed loop: what buyers send back changes the next lead's grade."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing.reports import source_report, source_score, source_scores
from exchange.settings import Settings
from exchange.storage.db import create_engine
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


async def test_scores_from_the_sales_side_agree_with_the_whole_report(
    market: Market, settings: Settings
) -> None:
    """billing.reports.source_scores reads only sales, returns and dispositions; what it
    scores must be what the full source report scores, sub_id by sub_id."""
    publisher, other = await market.publisher(), await market.publisher()
    buyer = await market.buyer()
    await market.fund(buyer, 10_000_000)
    sold: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    async with serve(FakeBuyer()) as (fake,):
        await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED)
        for sub_id, count in (("a", 12), ("b", 10), ("c", 3)):
            for _ in range(count):
                answer = await market.post_lead(publisher, auto_insurance_lead(sub_id=sub_id))
                sold[sub_id].append(answer.json()["lead_id"])
        foreign = (await market.post_lead(other, auto_insurance_lead(sub_id="a"))).json()["lead_id"]

    async def give_back(lead_id: str, approve: bool | None) -> None:
        answer = await market.client.post(
            f"/v1/leads/{lead_id}/returns", json={"reason": "fraud"}, headers=buyer.auth
        )
        assert answer.status_code == 201, answer.text
        if approve is not None:
            decided = await market.client.post(
                f"/v1/returns/{answer.json()['id']}/decision", json={"approve": approve}, headers=market.admin
            )
            assert decided.status_code == 200, decided.text

    async def dispose(lead_id: str, status: str) -> None:
        answer = await market.client.post(
            f"/v1/leads/{lead_id}/dispositions", json={"status": status}, headers=buyer.auth
        )
        assert answer.status_code == 201, answer.text

    for lead_id in sold["a"][:3]:
        await give_back(lead_id, approve=True)
    await give_back(sold["a"][3], approve=False)  # rejected: not a return
    await give_back(sold["a"][4], approve=None)  # pending: not yet
    await give_back(foreign, approve=True)  # another publisher's
    for lead_id in sold["b"][:4]:
        await dispose(lead_id, "sold")
    await dispose(sold["b"][4], "contacted")
    await dispose(foreign, "sold")

    engine = create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            now = datetime.now(UTC) + timedelta(days=1)
            start = now - timedelta(days=90)
            report = await source_report(conn, start=start, end=now, publisher_id=publisher.id)
            scores = await source_scores(conn, start=start, end=now, publisher_id=publisher.id)
    finally:
        await engine.dispose()
    assert scores == {row.sub_id: source_score(row) for row in report}
    assert scores["a"] is not None and scores["b"] is not None and scores["c"] is None
    assert scores["a"] < 0.5 < scores["b"]  # returns pull down, closed sales lift
