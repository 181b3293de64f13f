"""Settlements: per-account figures for a period, the same to the cent in JSON, CSV and XLSX."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest

from billing.ledger import HOUSE
from billing.settlements import COLUMNS
from tests.billing.ledger_scenario import SINCE, UNTIL, expected, finance_key, move_to, sell, trade
from tests.conftest import Market, ShiftableClock
from tests.distribution.buyers import FakeBuyer, serve

NUMBERS = COLUMNS[3:]


async def settle(market: Market, headers: dict[str, str], fmt: str = "json", **dates: str) -> Any:
    params = {"since": SINCE, "until": UNTIL, "format": fmt, **dates}
    answer = await market.client.get("/v1/settlements", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json() if fmt == "json" else answer


async def test_a_period_settles_each_account_from_its_opening_to_its_closing_balance(
    market: Market, clock: ShiftableClock
) -> None:
    scenario = await trade(market, clock)
    body = await settle(market, await finance_key(market))
    rows = {row["account_id"]: row for row in body["rows"]}
    assert set(rows) == {scenario.alpha.id, scenario.beta.id, scenario.publisher.id, HOUSE}
    for account_id, figures in expected(scenario).items():
        assert {k: rows[account_id][k] for k in figures} == figures, account_id
        # Closing is what the balance endpoint said at the end of the period.
        assert rows[account_id]["closing_balance_cents"] == scenario.balances_at_until[account_id]
    assert [r["account_type"] for r in body["rows"]] == ["buyer", "buyer", "publisher", "exchange"]
    assert (rows[HOUSE]["account_type"], rows[HOUSE]["account_name"]) == ("exchange", "Exchange")
    assert rows[scenario.alpha.id]["account_name"] == "Alpha Insurance"
    assert (body["since"], body["until"]) == (SINCE, UNTIL)
    assert list(body["rows"][0]) == list(COLUMNS)
    for kind in ("buyer", "publisher", "exchange"):
        of_kind = [r for r in body["rows"] if r["account_type"] == kind]
        for column in NUMBERS:
            assert body["totals"][kind][column] == sum(r[column] for r in of_kind), (kind, column)
    for row in body["rows"]:
        assert reconciles(row), row


def reconciles(row: dict[str, Any]) -> bool:
    """CONTRACT.md's identity for the row's account type."""
    movements = {
        "buyer": row["payments_cents"] - row["net_cents"],
        "publisher": row["net_cents"] - row["payments_cents"],
        "exchange": row["net_cents"],
    }[row["account_type"]]
    return row["opening_balance_cents"] + movements + row["adjustments_cents"] == row["closing_balance_cents"]


async def test_what_buyers_paid_is_what_publishers_and_the_house_got(
    market: Market, clock: ShiftableClock
) -> None:
    await trade(market, clock)
    for since, until in ((SINCE, UNTIL), ("2026-11-01", "2026-11-30"), ("2026-11-12", "2026-11-12")):
        rows = (await settle(market, market.admin, since=since, until=until))["rows"]
        for column in ("leads", "gross_cents", "returns_cents", "net_cents"):
            side = {
                kind: sum(r[column] for r in rows if r["account_type"] == kind)
                for kind in ("buyer", "publisher", "exchange")
            }
            if column == "leads":
                assert side["buyer"] == side["publisher"] == side["exchange"]
            else:
                assert side["buyer"] == side["publisher"] + side["exchange"], (since, until, column)
        for row in rows:
            assert row["net_cents"] == row["gross_cents"] - row["returns_cents"]


async def test_a_period_before_any_entry_has_no_rows_and_the_next_day_opens_where_it_closed(
    market: Market, clock: ShiftableClock
) -> None:
    scenario = await trade(market, clock)
    empty = await settle(market, market.admin, since="2026-11-01", until="2026-11-08")
    assert empty["rows"] == []
    assert empty["totals"] == {}
    period = {r["account_id"]: r for r in (await settle(market, market.admin))["rows"]}
    after = {
        r["account_id"]: r
        for r in (await settle(market, market.admin, since="2026-11-12", until="2026-11-12"))["rows"]
    }
    for account_id, row in period.items():
        assert after[account_id]["opening_balance_cents"] == row["closing_balance_cents"]
    assert after[scenario.alpha.id]["leads"] == 1
    assert after[scenario.alpha.id]["gross_cents"] == 5000
    # The day's payment is in the closing balance, though it is no sale, and in its own column.
    assert after[scenario.alpha.id]["closing_balance_cents"] == 97_000 - 5000 + 5000
    assert after[scenario.alpha.id]["payments_cents"] == 5000
    assert all(reconciles(row) for row in after.values())
    assert "cash" not in after


async def test_csv_and_xlsx_agree_with_json_to_the_cent(market: Market, clock: ShiftableClock) -> None:
    await trade(market, clock)
    finance = await finance_key(market)
    body = await settle(market, finance)
    expected_rows = [
        *body["rows"],
        *(
            {"account_id": "TOTAL", "account_type": kind, "account_name": "", **totals}
            for kind, totals in body["totals"].items()
        ),
    ]
    assert [r["account_type"] for r in expected_rows[-3:]] == ["buyer", "publisher", "exchange"]

    answer = await settle(market, finance, "csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="settlement_2026-11-10_2026-11-11.csv"' in answer.headers["content-disposition"]
    table = list(csv.reader(io.StringIO(answer.text)))
    assert table[0] == list(COLUMNS)
    assert len(table) == len(expected_rows) + 1
    for cells, row in zip(table[1:], expected_rows, strict=True):
        assert cells[:3] == [row["account_id"], row["account_type"], row["account_name"]]
        assert [int(c) for c in cells[3:]] == [row[c] for c in NUMBERS]

    answer = await settle(market, finance, "xlsx")
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert 'filename="settlement_2026-11-10_2026-11-11.xlsx"' in answer.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    grid = [list(r) for r in sheet.iter_rows(values_only=True)]
    dollars = [c.removesuffix("_cents") for c in COLUMNS if c.endswith("_cents")]
    assert grid[0] == [*COLUMNS, *dollars]
    assert len(grid) == len(expected_rows) + 1
    for cells, row in zip(grid[1:], expected_rows, strict=True):
        assert cells[:3] == [row["account_id"], row["account_type"] or None, row["account_name"] or None]
        width = len(COLUMNS)
        assert cells[3:width] == [row[c] for c in NUMBERS]
        assert all(isinstance(c, int) for c in cells[3:width])
        assert [round(c * 100) for c in cells[width:]] == [row[f"{d}_cents"] for d in dollars]
    assert sheet.freeze_panes == "A2"
    assert "$" in sheet.cell(row=2, column=len(COLUMNS) + 1).number_format
    assert sheet.column_dimensions["C"].width >= len("account_name")


async def test_formula_like_names_are_escaped_in_csv_and_negative_amounts_stay_numbers(
    market: Market, clock: ShiftableClock
) -> None:
    move_to(clock, "2026-11-10T10:00:00Z")
    publisher = await market.publisher(name="+Plus Media")
    buyer = await market.buyer(name='=HYPERLINK("x")', credit_limit_cents=10_000)
    async with serve(FakeBuyer()) as fakes:
        await market.campaign(buyer, fakes[0].delivery())
        await sell(market, publisher, fakes, 0, 1.50)  # on credit: the buyer's balance is −150

    answer = await settle(market, market.admin, "csv")
    lines = list(csv.DictReader(io.StringIO(answer.text)))
    rows = {r["account_id"]: r for r in lines}
    assert rows[buyer.id]["account_name"] == '\'=HYPERLINK("x")'
    assert rows[publisher.id]["account_name"] == "'+Plus Media"
    assert rows[buyer.id]["closing_balance_cents"] == "-150"
    assert [r["account_type"] for r in lines if r["account_id"] == "TOTAL"] == [
        "buyer",
        "publisher",
        "exchange",
    ]

    answer = await settle(market, market.admin, "xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(answer.content)).active
    assert sheet is not None
    (cell,) = [r for r in sheet.iter_rows(min_row=2) if r[0].value == buyer.id]
    # A string cell is never run, so the XLSX keeps the name as given.
    assert (cell[2].value, cell[2].data_type) == ('=HYPERLINK("x")', "s")
    assert (cell[8].value, cell[8].data_type) == (-150, "n")


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "2026-13-01", "until": "2026-11-30"}, "since"),
        ({"since": "2026-11-01", "until": "yesterday"}, "until"),
        ({"since": "2026-11-30", "until": "2026-11-01"}, "since"),
        ({"since": "2026-11-01", "until": "2026-11-30", "format": "pdf"}, "format"),
    ],
)
async def test_bad_dates_are_refused_naming_the_field(
    market: Market, params: dict[str, str], field: str
) -> None:
    answer = await market.client.get("/v1/settlements", params=params, headers=market.admin)
    assert answer.status_code == 422, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]


async def test_only_finance_and_operators_see_settlements(market: Market) -> None:
    publisher = await market.publisher()
    buyer = await market.buyer()
    params = {"since": SINCE, "until": UNTIL}
    for headers, status in (
        (await finance_key(market), 200),
        (market.admin, 200),
        (publisher.auth, 403),
        (buyer.auth, 403),
        ({}, 401),
    ):
        answer = await market.client.get("/v1/settlements", params=params, headers=headers)
        assert answer.status_code == status, answer.text
