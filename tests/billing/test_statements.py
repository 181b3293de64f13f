"""Statements: an account's entries with a running balance; staff read any, an account only its own."""

from __future__ import annotations

import csv
import io

from billing.ledger import HOUSE
from billing.statements import STATEMENT_COLUMNS
from tests.billing.ledger_scenario import SINCE, UNTIL, expected, finance_key, trade
from tests.conftest import Market, ShiftableClock


async def test_a_statement_runs_from_the_opening_to_the_closing_balance(
    market: Market, clock: ShiftableClock
) -> None:
    scenario = await trade(market, clock)
    settled = expected(scenario)
    for account in (scenario.alpha, scenario.beta, scenario.publisher):
        answer = await market.client.get(
            f"/v1/accounts/{account.id}/statement",
            params={"since": SINCE, "until": UNTIL},
            headers=account.auth,
        )
        assert answer.status_code == 200, answer.text
        statement = answer.json()
        assert statement["opening_balance_cents"] == settled[account.id]["opening_balance_cents"]
        assert statement["closing_balance_cents"] == settled[account.id]["closing_balance_cents"]
        balance = statement["opening_balance_cents"]
        for line in statement["entries"]:
            balance += line["amount_cents"]
            assert line["balance_cents"] == balance
            assert SINCE <= line["created_at"][:10] <= UNTIL
        assert balance == statement["closing_balance_cents"]
    beta = (
        await market.client.get(
            f"/v1/accounts/{scenario.beta.id}/statement",
            params={"since": SINCE, "until": UNTIL},
            headers=scenario.beta.auth,
        )
    ).json()
    assert [line["kind"] for line in beta["entries"]] == ["payment", "sale", "sale"]
    assert [line["amount_cents"] for line in beta["entries"]] == [20_000, -2500, -1000]


async def test_without_dates_a_statement_is_the_whole_history(market: Market, clock: ShiftableClock) -> None:
    scenario = await trade(market, clock)
    statement = (
        await market.client.get(
            f"/v1/accounts/{scenario.alpha.id}/statement", headers=await finance_key(market)
        )
    ).json()
    balance = await market.client.get(f"/v1/accounts/{scenario.alpha.id}/balance", headers=market.admin)
    assert statement["opening_balance_cents"] == 0
    assert statement["closing_balance_cents"] == balance.json()["balance_cents"]
    assert (statement["since"], statement["until"]) == (None, None)


async def test_the_csv_statement_is_the_json_between_opening_and_closing_rows(
    market: Market, clock: ShiftableClock
) -> None:
    scenario = await trade(market, clock)
    url = f"/v1/accounts/{scenario.publisher.id}/statement"
    params = {"since": SINCE, "until": UNTIL}
    statement = (await market.client.get(url, params=params, headers=scenario.publisher.auth)).json()
    answer = await market.client.get(url, params={**params, "format": "csv"}, headers=scenario.publisher.auth)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "filename=" in answer.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(answer.text))
    assert reader.fieldnames == list(STATEMENT_COLUMNS)
    opening, *lines, closing = list(reader)
    assert (opening["kind"], int(opening["balance_cents"])) == (
        "opening_balance",
        statement["opening_balance_cents"],
    )
    assert (closing["kind"], int(closing["balance_cents"])) == (
        "closing_balance",
        statement["closing_balance_cents"],
    )
    assert len(lines) == len(statement["entries"]) == 4
    for row, line in zip(lines, statement["entries"], strict=True):
        assert [int(row["id"]), int(row["amount_cents"]), int(row["balance_cents"])] == [
            line["id"],
            line["amount_cents"],
            line["balance_cents"],
        ]
        assert (row["kind"], row["lead_id"], row["created_at"]) == (
            line["kind"],
            line["lead_id"],
            line["created_at"],
        )


async def test_an_account_reads_only_its_own_statement(market: Market) -> None:
    publisher = await market.publisher()
    other_publisher = await market.publisher(name="Other")
    buyer = await market.buyer()
    other_buyer = await market.buyer(name="Other")
    finance = await finance_key(market)
    for account_id, headers, status in (
        (buyer.id, buyer.auth, 200),
        (publisher.id, publisher.auth, 200),
        (other_buyer.id, buyer.auth, 404),
        (publisher.id, buyer.auth, 404),
        (other_publisher.id, publisher.auth, 404),
        (buyer.id, publisher.auth, 404),
        (HOUSE, buyer.auth, 404),
        (HOUSE, publisher.auth, 404),
        (buyer.id, finance, 200),
        (publisher.id, market.admin, 200),
        (HOUSE, finance, 200),
        ("cash", market.admin, 200),
        ("buy_nobody", finance, 404),
        (buyer.id, {}, 401),
    ):
        answer = await market.client.get(f"/v1/accounts/{account_id}/statement", headers=headers)
        assert answer.status_code == status, (account_id, answer.text)
    for fmt in ("json", "csv"):
        answer = await market.client.get(
            f"/v1/accounts/{other_buyer.id}/statement", params={"format": fmt}, headers=buyer.auth
        )
        assert answer.status_code == 404


async def test_a_backwards_or_impossible_period_is_refused(market: Market) -> None:
    buyer = await market.buyer()
    for params, field in (
        ({"since": "2026-11-12", "until": "2026-11-11"}, "since"),
        ({"until": "2026-11-31"}, "until"),
    ):
        answer = await market.client.get(
            f"/v1/accounts/{buyer.id}/statement", params=params, headers=buyer.auth
        )
        assert answer.status_code == 422, answer.text
        assert [e["field"] for e in answer.json()["errors"]] == [field]
