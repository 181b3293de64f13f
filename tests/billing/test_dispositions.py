"""Dispositions: one as JSON, many as CSV with bad rows named and good rows kept."""

from __future__ import annotations

from tests.billing.test_returns import sell_one
from tests.conftest import Market
from tests.distribution.buyers import FakeBuyer, serve


async def test_a_buyer_reports_a_disposition_of_its_lead(market: Market) -> None:
    async with serve(FakeBuyer()) as (fake,):
        _, buyer, lead_id = await sell_one(market, fake)
    answer = await market.client.post(
        f"/v1/leads/{lead_id}/dispositions",
        json={"status": "sold", "revenue_cents": 120_000},
        headers=buyer.auth,
    )
    assert answer.status_code == 201
    assert answer.json()["status"] == "sold" and answer.json()["revenue_cents"] == 120_000
    unknown = await market.client.post(
        f"/v1/leads/{lead_id}/dispositions", json={"status": "married"}, headers=buyer.auth
    )
    assert unknown.status_code == 422
    stranger = await market.buyer(name="Stranger")
    other = await market.client.post(
        f"/v1/leads/{lead_id}/dispositions", json={"status": "dead"}, headers=stranger.auth
    )
    assert other.status_code == 404
    events = (await market.client.get(f"/v1/leads/{lead_id}/events", headers=market.admin)).json()["items"]
    assert events[-1]["kind"] == "disposition" and events[-1]["data"]["revenue_cents"] == 120_000


async def test_bulk_dispositions_keep_good_rows_and_name_bad_ones(market: Market) -> None:
    async with serve(FakeBuyer()) as (fake,):
        _, buyer, lead_id = await sell_one(market, fake)
    csv_body = (
        "lead_id,status,revenue_cents\n"
        f"{lead_id},contacted,\n"
        f"{lead_id},sold,90000\n"
        "lead_unknown,sold,100\n"
        f"{lead_id},married,\n"
        f"{lead_id},sold,12.50\n"
    )
    answer = await market.client.post(
        "/v1/dispositions", content=csv_body.encode(), headers={**buyer.auth, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (2, 3)
    assert [r["status"] for r in body["rows"]] == ["accepted", "accepted", "rejected", "rejected", "rejected"]
    assert [r["row"] for r in body["rows"]] == [1, 2, 3, 4, 5]
    assert "married" in body["rows"][3]["error"]
    assert "revenue_cents" in body["rows"][4]["error"]


async def test_bulk_dispositions_without_the_header_are_refused(market: Market) -> None:
    buyer = await market.buyer()
    answer = await market.client.post(
        "/v1/dispositions", content=b"a,b\n1,2\n", headers={**buyer.auth, "Content-Type": "text/csv"}
    )
    assert answer.status_code == 400
    assert "lead_id" in answer.json()["message"]
