"""A month of trading on a moving clock: the settlement adds up, opens and closes where the
balances stood, and JSON, CSV and XLSX say the same."""

from __future__ import annotations

import csv
import io

import openpyxl

from billing.ledger import HOUSE
from tests.billing.ledger_scenario import approve_return, finance_key, move_to, sell
from tests.conftest import Market, ShiftableClock
from tests.distribution.buyers import FakeBuyer, serve


async def test_a_month_of_trading_settles_to_the_cent(market: Market, clock: ShiftableClock) -> None:
    move_to(clock, "2026-10-28T10:00:00Z")
    publisher = await market.publisher(name="Month Leads", payout={"model": "revshare", "percent": 65})
    buyers = [await market.buyer(name="North"), await market.buyer(name="South")]
    paid = {b.id: 0 for b in buyers}
    charged = {b.id: 0 for b in buyers}
    credited = {b.id: 0 for b in buyers}
    bought = {b.id: 0 for b in buyers}
    payouts = reversals = 0
    async with serve(FakeBuyer(), FakeBuyer()) as fakes:
        for buyer, fake in zip(buyers, fakes, strict=True):
            await market.campaign(buyer, fake.delivery())
            await market.fund(buyer, 200_000)  # October: the opening balance
        for day in range(1, 31):
            move_to(clock, f"2026-11-{day:02d}T{8 + day % 10:02d}:30:00Z")
            if day % 7 == 1:
                for buyer in buyers:
                    await market.fund(buyer, 10_000)
                    paid[buyer.id] += 10_000
            if day % 2:
                continue
            winner = day % 4 // 2
            price = 1000 + day * 75
            lead_id = await sell(market, publisher, fakes, winner, price / 100)
            buyer = buyers[winner]
            charged[buyer.id] += price
            bought[buyer.id] += 1
            payouts += price * 65 // 100
            if day % 10 == 0:
                move_to(clock, f"2026-11-{day:02d}T20:00:00Z")
                await approve_return(market, buyer, lead_id)
                credited[buyer.id] += price
                reversals += price * 65 // 100
        move_to(clock, "2026-12-01T09:00:00Z")
        await sell(market, publisher, fakes, 0, 99.0)  # December: outside the period
    finance = await finance_key(market)
    params = {"since": "2026-11-01", "until": "2026-11-30"}
    body = (await market.client.get("/v1/settlements", params=params, headers=finance)).json()
    rows = {r["account_id"]: r for r in body["rows"]}
    for buyer in buyers:
        row = rows[buyer.id]
        assert row["leads"] == bought[buyer.id]
        assert row["gross_cents"] == charged[buyer.id]
        assert row["returns_cents"] == credited[buyer.id]
        assert row["net_cents"] == charged[buyer.id] - credited[buyer.id]
        assert row["opening_balance_cents"] == 200_000
        assert (
            row["closing_balance_cents"] == 200_000 + paid[buyer.id] - charged[buyer.id] + credited[buyer.id]
        )
    gross = sum(charged.values())
    assert rows[publisher.id]["gross_cents"] == payouts
    assert rows[publisher.id]["returns_cents"] == reversals
    assert rows[publisher.id]["closing_balance_cents"] == payouts - reversals
    assert rows[HOUSE]["gross_cents"] == gross - payouts
    assert rows[HOUSE]["net_cents"] == (gross - sum(credited.values())) - (payouts - reversals)
    assert body["totals"]["buyer"]["leads"] == body["totals"]["publisher"]["leads"] == sum(bought.values())
    assert body["totals"]["exchange"]["leads"] == sum(bought.values())

    csv_text = (
        await market.client.get("/v1/settlements", params={**params, "format": "csv"}, headers=finance)
    ).text
    table = list(csv.DictReader(io.StringIO(csv_text)))
    totals = [line for line in table if line["account_id"] == "TOTAL"]
    assert [line["account_type"] for line in totals] == ["buyer", "publisher", "exchange"]
    for line in table[: -len(totals)]:
        assert int(line["net_cents"]) == rows[line["account_id"]]["net_cents"]
        assert int(line["closing_balance_cents"]) == rows[line["account_id"]]["closing_balance_cents"]
    for line in totals:
        assert int(line["net_cents"]) == body["totals"][line["account_type"]]["net_cents"]
    xlsx = await market.client.get("/v1/settlements", params={**params, "format": "xlsx"}, headers=finance)
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet is not None
    grid = list(sheet.iter_rows(values_only=True))
    header = list(grid[0])
    for line in grid[1:]:
        cells = dict(zip(header, line, strict=True))
        if cells["account_id"] == "TOTAL":
            expected = body["totals"][str(cells["account_type"])]
        else:
            expected = rows[str(cells["account_id"])]
        assert cells["net_cents"] == expected["net_cents"]
        assert cells["opening_balance_cents"] == expected["opening_balance_cents"]
