"""Finance closes a month: sales, returns in and out of the window, payments, a payout, an
adjustment, the close, a refused posting into the closed month and a late return after it.

Every settlement row reconciles, totals per account type match the ledger, the closed month's
figures never move again, and a returned lead reads `returned` to everyone who may see it.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from billing.ledger import HOUSE
from tests.billing.ledger_scenario import approve_return, finance_key, move_to, sell
from tests.billing.test_settlements import reconciles
from tests.conftest import Account, Market, ShiftableClock
from tests.distribution.buyers import FakeBuyer, serve

NOVEMBER = {"month": "2026-11"}


async def settle(market: Market, headers: dict[str, str], **params: str) -> dict[str, Any]:
    answer = await market.client.get("/v1/settlements", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def ledger_sums(market: Market, headers: dict[str, str], until: str) -> dict[str, int]:
    """Every ledger entry up to the end of `until`, summed per account type, from the entries export."""
    answer = await market.client.get(
        "/v1/ledger/entries", params={"until": until, "format": "csv"}, headers=headers
    )
    sums: dict[str, int] = {}
    for line in csv.DictReader(io.StringIO(answer.text)):
        sums[line["account_type"]] = sums.get(line["account_type"], 0) + int(line["amount_cents"])
    return sums


async def lead_as(market: Market, lead_id: str, account: Account | None) -> dict[str, Any]:
    headers = market.admin if account is None else account.auth
    answer = await market.client.get(f"/v1/leads/{lead_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_month_closes_and_stays_closed(market: Market, clock: ShiftableClock) -> None:
    move_to(clock, "2026-10-28T10:00:00Z")
    publisher = await market.publisher(name="Month Leads", payout={"model": "revshare", "percent": 70})
    north, south = await market.buyer(name="North"), await market.buyer(name="South")
    finance = await finance_key(market)
    async with serve(FakeBuyer(), FakeBuyer()) as fakes:
        await market.campaign(north, fakes[0].delivery(), return_window_hours=48)
        await market.campaign(south, fakes[1].delivery(), return_window_hours=48)
        await market.fund(north, 50_000)
        await market.fund(south, 50_000)  # October: the opening balances

        move_to(clock, "2026-11-03T10:00:00Z")
        returned = await sell(market, publisher, fakes, 0, 30.00)
        move_to(clock, "2026-11-04T10:00:00Z")
        await approve_return(market, north, returned)  # inside the window
        move_to(clock, "2026-11-06T10:00:00Z")
        kept = await sell(market, publisher, fakes, 1, 25.00)
        move_to(clock, "2026-11-09T10:00:00Z")
        late = await market.client.post(
            f"/v1/leads/{kept}/returns", json={"reason": "other"}, headers=south.auth
        )
        assert (late.status_code, late.json()["code"]) == (422, "return_window_closed")
        await market.fund(south, 10_000, reference="wire-nov")

        # A payout: more than owed is refused, unless forced with a note; a reference pays once.
        owed = (await market.client.get(f"/v1/accounts/{publisher.id}/balance", headers=finance)).json()
        payouts = f"/v1/publishers/{publisher.id}/payouts"
        too_much = {"amount_cents": owed["balance_cents"] + 1, "reference": "too-much"}
        answer = await market.client.post(payouts, json=too_much, headers=finance)
        assert (answer.status_code, answer.json()["errors"][0]["field"]) == (422, "amount_cents")
        answer = await market.client.post(payouts, json={**too_much, "force": True}, headers=finance)
        assert (answer.status_code, answer.json()["errors"][0]["field"]) == (422, "note")
        paid = await market.client.post(
            payouts, json={"amount_cents": 1000, "reference": "oct"}, headers=finance
        )
        assert paid.status_code == 201, paid.text
        assert paid.json()["balance_cents"] == owed["balance_cents"] - 1000
        again = await market.client.post(
            payouts, json={"amount_cents": 1000, "reference": "oct"}, headers=finance
        )
        assert (again.status_code, again.json()) == (200, paid.json())
        other = await market.client.post(
            payouts, json={"amount_cents": 999, "reference": "oct"}, headers=finance
        )
        assert (other.status_code, other.json()["code"]) == (422, "idempotency_mismatch")

        move_to(clock, "2026-11-20T10:00:00Z")
        goodwill = {
            "account_id": north.id,
            "amount_cents": 700,
            "reason": "goodwill",
            "note": "slow delivery last week",
            "reference": "gw-1",
        }
        adjusted = await market.client.post("/v1/adjustments", json=goodwill, headers=finance)
        assert adjusted.status_code == 201, adjusted.text
        assert adjusted.json()["house_account"] == "goodwill"
        move_to(clock, "2026-11-29T10:00:00Z")
        late_return = await sell(market, publisher, fakes, 1, 40.00)

        # Not before the month has ended.
        move_to(clock, "2026-11-30T23:00:00Z")
        early = await market.client.post("/v1/periods/2026-11/close", json={}, headers=finance)
        assert (early.status_code, early.json()["errors"][0]["code"]) == (422, "period_not_ended")
        move_to(clock, "2026-12-01T00:10:00Z")
        before_close = await settle(market, finance, **NOVEMBER)
        closed = await market.client.post(
            "/v1/periods/2026-11/close", json={"note": "November"}, headers=finance
        )
        assert closed.status_code == 201, closed.text
        again = await market.client.post("/v1/periods/2026-11/close", json={}, headers=finance)
        assert (again.status_code, again.json()["code"]) == (409, "already_closed")

        # Nothing lands in the closed month.
        dated = {**goodwill, "reference": "gw-2", "effective_date": "2026-11-25"}
        refused = await market.client.post("/v1/adjustments", json=dated, headers=finance)
        assert (refused.status_code, refused.json()["code"]) == (409, "period_closed")
        assert refused.json()["errors"][0]["field"] == "effective_date"
        refused = await market.client.post(
            payouts,
            json={"amount_cents": 1, "reference": "x", "effective_date": "2026-11-30"},
            headers=finance,
        )
        assert (refused.status_code, refused.json()["code"]) == (409, "period_closed")

        # A late return: inside its window, after its month closed; it posts in December.
        move_to(clock, "2026-12-01T09:00:00Z")
        await approve_return(market, south, late_return)
        move_to(clock, "2026-12-02T09:00:00Z")
        await sell(market, publisher, fakes, 0, 15.00)

    november = await settle(market, finance, **NOVEMBER)
    assert november == {**before_close, "closed": True}
    assert (november["since"], november["until"]) == ("2026-11-01", "2026-11-30")
    rows = {r["account_id"]: r for r in november["rows"]}
    assert all(reconciles(row) for row in november["rows"])
    assert rows[north.id]["returns_cents"] == 3000
    assert rows[north.id]["adjustments_cents"] == 700
    assert rows[south.id]["payments_cents"] == 10_000
    assert rows[publisher.id]["payments_cents"] == 1000
    assert rows["goodwill"]["adjustments_cents"] == -700
    assert rows["goodwill"]["account_name"] == "Exchange: goodwill"
    goodwill = await market.client.get("/v1/accounts/goodwill/balance", headers=finance)
    assert (goodwill.json()["account_type"], goodwill.json()["balance_cents"]) == ("exchange", -700)
    sums = await ledger_sums(market, finance, "2026-11-30")
    for kind in ("buyer", "publisher", "exchange"):
        assert november["totals"][kind]["closing_balance_cents"] == sums[kind], kind
    # Money in equals money placed: the ledger's four sides sum to zero.
    assert sum(sums.values()) == 0

    december = await settle(market, finance, month="2026-12")
    assert not december["closed"]
    rows = {r["account_id"]: r for r in december["rows"]}
    assert rows[south.id]["returns_cents"] == 4000
    assert (
        rows[south.id]["opening_balance_cents"]
        == {r["account_id"]: r for r in november["rows"]}[south.id]["closing_balance_cents"]
    )
    assert all(reconciles(row) for row in december["rows"])

    # The return names the sale and month it reverses.
    events = (await market.client.get(f"/v1/leads/{late_return}/events", headers=market.admin)).json()
    decided = next(e for e in events["items"] if e["kind"] == "returned")
    assert decided["data"]["sale_month"] == "2026-11"
    assert decided["data"]["decided_by"]

    # A returned lead reads returned to the operator, its buyer and its publisher.
    for viewer in (None, south):
        lead = await lead_as(market, late_return, viewer)
        assert lead["status"] == "returned"
        assert [sale["returned"] for sale in lead["sales"]] == [True]
    seen = await lead_as(market, late_return, publisher)
    assert (seen["status"], seen["payout_cents"], seen["payout_reversed_cents"]) == ("returned", 0, 2800)
    assert "sales" not in seen

    # Only an operator reopens, with a reason; then the dated adjustment lands.
    answer = await market.client.post("/v1/periods/2026-11/reopen", json={"note": "fix"}, headers=finance)
    assert answer.status_code == 403
    answer = await market.client.post(
        "/v1/periods/2026-11/reopen", json={"note": "late credit agreed"}, headers=market.admin
    )
    assert answer.status_code == 201, answer.text
    landed = await market.client.post("/v1/adjustments", json=dated, headers=finance)
    assert landed.status_code == 201, landed.text
    history = (await market.client.get("/v1/periods/2026-11", headers=finance)).json()
    assert history["status"] == "open"
    assert [(e["action"], e["note"]) for e in history["events"]] == [
        ("close", "November"),
        ("reopen", "late credit agreed"),
    ]
    reopened = await settle(market, finance, **NOVEMBER)
    assert {r["account_id"]: r for r in reopened["rows"]}[north.id]["adjustments_cents"] == 1400


async def test_a_payout_run_proposes_what_is_owed_above_a_minimum(
    market: Market, clock: ShiftableClock
) -> None:
    move_to(clock, "2026-11-05T10:00:00Z")
    big = await market.publisher(name="Big Leads", payout={"model": "revshare", "percent": 50})
    small = await market.publisher(name="=Small Leads", payout={"model": "revshare", "percent": 50})
    buyer = await market.buyer(name="Buyer")
    finance = await finance_key(market)
    async with serve(FakeBuyer()) as fakes:
        await market.campaign(buyer, fakes[0].delivery())
        await market.fund(buyer, 100_000)
        for _ in range(3):
            await sell(market, big, fakes, 0, 40.00)  # 3 × 2000 owed to big
        await sell(market, small, fakes, 0, 10.00)  # 500 owed to small
        move_to(clock, "2026-12-02T10:00:00Z")
        await sell(market, big, fakes, 0, 40.00)  # December: not in November's run
        answer = await market.client.post(
            f"/v1/publishers/{big.id}/payouts",
            json={"amount_cents": 1500, "reference": "early"},
            headers=finance,
        )
        assert answer.status_code == 201

    params = {"month": "2026-11", "minimum_cents": "1000"}
    run = (await market.client.get("/v1/payouts/proposal", params=params, headers=finance)).json()
    assert [(i["publisher_id"], i["amount_cents"]) for i in run["items"]] == [(big.id, 6000 - 1500)]
    assert run["total_cents"] == 4500
    everyone = await market.client.get(
        "/v1/payouts/proposal", params={**params, "minimum_cents": "0", "format": "csv"}, headers=finance
    )
    lines = list(csv.DictReader(io.StringIO(everyone.text)))
    # By name ("=" sorts before letters); a formula-like name is defused.
    assert [(line["publisher_name"], line["amount"]) for line in lines] == [
        ("'=Small Leads", "5.00"),
        ("Big Leads", "45.00"),
    ]
    # Paying the run as proposed, twice, pays once.
    for _ in range(2):
        for line in lines:
            paid = await market.client.post(
                f"/v1/publishers/{line['publisher_id']}/payouts",
                json={"amount_cents": int(line["amount_cents"]), "reference": line["reference"]},
                headers=finance,
            )
            assert paid.status_code in (200, 201), paid.text
    after = (await market.client.get("/v1/payouts/proposal", params=params, headers=finance)).json()
    assert after["items"] == []
    listed = (await market.client.get(f"/v1/publishers/{big.id}/payouts", headers=big.auth)).json()
    assert [p["reference"] for p in listed["items"]] == ["run-2026-11-30", "early"]
    other = await market.client.get(f"/v1/publishers/{big.id}/payouts", headers=small.auth)
    assert other.status_code == 404


async def test_month_and_dates_are_checked(market: Market) -> None:
    for params, field in (
        ({"month": "2026-13"}, "month"),
        ({"month": "2026-11", "since": "2026-11-01"}, "since"),
        ({"since": "2026-11-01"}, "until"),
        ({"since": "2026-11-02", "until": "2026-11-01"}, "since"),
    ):
        answer = await market.client.get("/v1/settlements", params=params, headers=market.admin)
        assert answer.status_code in (400, 422), (params, answer.text)
        assert field in answer.text, (params, answer.text)
    whole_year = await market.client.get(
        "/v1/settlements", params={"since": "0001-01-01", "until": "9999-12-31"}, headers=market.admin
    )
    assert whole_year.status_code == 200, whole_year.text
    assert whole_year.json()["closed"] is False
    assert (await market.client.post("/v1/periods/9999-12/close", headers=market.admin)).status_code == 422
    zero = {"account_id": HOUSE, "amount_cents": 5, "reason": "other", "note": "n", "reference": "r"}
    answer = await market.client.post("/v1/adjustments", json=zero, headers=market.admin)
    assert (answer.status_code, answer.json()["errors"][0]["field"]) == (422, "account_id")
