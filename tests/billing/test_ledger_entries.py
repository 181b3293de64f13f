"""Ledger entries: balanced transactions, read by finance a page at a time or as one CSV download."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

from billing.statements import ENTRY_COLUMNS
from tests.billing.ledger_scenario import SINCE, UNTIL, finance_key, trade
from tests.conftest import Market, ShiftableClock


async def all_entries(market: Market, headers: dict[str, str], limit: int = 1000, **params: str) -> list[Any]:
    """Every page, following next_cursor to the end."""
    items: list[Any] = []
    cursor = None
    while True:
        query = {"limit": str(limit), **params, **({"cursor": cursor} if cursor else {})}
        answer = await market.client.get("/v1/ledger/entries", params=query, headers=headers)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


async def test_only_finance_and_operators_read_the_ledger(market: Market) -> None:
    publisher = await market.publisher()
    buyer = await market.buyer()
    for fmt in ("json", "csv"):
        for headers, status in (
            (await finance_key(market), 200),
            (market.admin, 200),
            (publisher.auth, 403),
            (buyer.auth, 403),
            ({}, 401),
        ):
            answer = await market.client.get("/v1/ledger/entries", params={"format": fmt}, headers=headers)
            assert answer.status_code == status, (fmt, answer.text)


async def test_every_transaction_sums_to_zero_and_sales_name_their_lead(
    market: Market, clock: ShiftableClock
) -> None:
    await trade(market, clock)
    entries = await all_entries(market, await finance_key(market))
    assert list(entries[0]) == list(ENTRY_COLUMNS)
    by_transaction: dict[str, list[Any]] = defaultdict(list)
    for entry in entries:
        by_transaction[entry["transaction_id"]].append(entry)
    assert len(by_transaction) == 4 + 5 + 1  # payments, sales, the return
    for transaction_id, lines in by_transaction.items():
        assert sum(e["amount_cents"] for e in lines) == 0, transaction_id
        assert len({e["kind"] for e in lines}) == 1
    kinds = {e["kind"] for e in entries}
    assert kinds == {"payment", "sale", "return"}
    assert all(e["lead_id"] for e in entries if e["kind"] in ("sale", "return"))
    assert all(e["lead_id"] is None for e in entries if e["kind"] == "payment")
    assert {e["account_type"] for e in entries if e["kind"] == "payment"} == {"buyer", "cash"}


async def test_pages_walk_the_entries_in_id_order_without_gaps(market: Market, clock: ShiftableClock) -> None:
    await trade(market, clock)
    whole = await all_entries(market, market.admin)
    paged = await all_entries(market, market.admin, limit=4)
    assert paged == whole
    ids = [e["id"] for e in whole]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_since_and_until_are_whole_utc_days(market: Market, clock: ShiftableClock) -> None:
    await trade(market, clock)
    entries = await all_entries(market, market.admin, since=SINCE, until=UNTIL)
    days = {e["created_at"][:10] for e in entries}
    assert days == {"2026-11-10", "2026-11-11"}
    # The period's last sale, at 23:59, is in; the sale at midnight after it is not.
    assert (
        sorted(e["kind"] for e in entries if e["created_at"].startswith("2026-11-11T23:59")) == ["sale"] * 3
    )
    later = await all_entries(market, market.admin, since="2026-11-12")
    assert {e["created_at"][:10] for e in later} == {"2026-11-12"}
    earlier = await all_entries(market, market.admin, until="2026-11-09")
    assert len(earlier) + len(entries) + len(later) == len(await all_entries(market, market.admin))


async def test_the_csv_download_is_the_json_entries_row_for_row(
    market: Market, clock: ShiftableClock
) -> None:
    await trade(market, clock)
    finance = await finance_key(market)
    entries = await all_entries(market, finance, limit=3, since=SINCE)
    answer = await market.client.get(
        "/v1/ledger/entries", params={"format": "csv", "since": SINCE, "limit": "3"}, headers=finance
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="ledger-entries_2026-11-10_now.csv"' in answer.headers["content-disposition"]
    reader = csv.DictReader(io.StringIO(answer.text))
    assert reader.fieldnames == list(ENTRY_COLUMNS)
    rows = list(reader)
    # limit pages the JSON only: the download has every row of the period.
    assert len(rows) == len(entries) > 3
    for row, entry in zip(rows, entries, strict=True):
        assert int(row["id"]) == entry["id"]
        assert int(row["amount_cents"]) == entry["amount_cents"]
        assert (row["lead_id"] or None) == entry["lead_id"]
        for column in ("transaction_id", "kind", "account_id", "account_type", "created_at"):
            assert row[column] == entry[column]


async def test_bad_query_values_are_refused_naming_them(market: Market) -> None:
    for params, field in (
        ({"since": "2026-02-30"}, "since"),
        ({"since": "2026-11-12", "until": "2026-11-11"}, "since"),
        ({"cursor": "abc"}, "cursor"),
        ({"format": "xml"}, "format"),
    ):
        answer = await market.client.get("/v1/ledger/entries", params=params, headers=market.admin)
        assert answer.status_code == 422, answer.text
        assert field in [e["field"] for e in answer.json()["errors"]]


async def test_one_leads_postings_are_its_sale_and_its_return_in_json_and_csv(
    market: Market, clock: ShiftableClock
) -> None:
    await trade(market, clock)
    headers = await finance_key(market)
    everything = await all_entries(market, headers)
    returned = next(e["lead_id"] for e in everything if e["kind"] == "return")
    expected = [e for e in everything if e["lead_id"] == returned]
    assert {e["kind"] for e in expected} == {"sale", "return"}

    # Across months: no period given means the lead's whole history.
    assert await all_entries(market, headers, limit=1, lead_id=returned) == expected
    answer = await market.client.get(
        "/v1/ledger/entries", params={"lead_id": returned, "format": "csv"}, headers=headers
    )
    rows = list(csv.DictReader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert [int(row["id"]) for row in rows] == [e["id"] for e in expected]
    assert await all_entries(market, headers, lead_id="lead_none") == []
