"""Money in the console: finance sees balances and the settlement, downloads the API's bytes,
each account sees only its own page, and the charts' tables carry the API's figures."""

from __future__ import annotations

import io
import re

import openpyxl

from billing.settlements import COLUMNS
from tests.conftest import ADMIN_KEY, Account, Market, auto_insurance_lead, bearer
from tests.console.test_console import sign_in
from tests.distribution.buyers import FakeBuyer, serve


async def finance_key(market: Market) -> str:
    answer = await market.client.post(
        "/v1/keys", json={"role": "finance", "name": "books"}, headers=market.admin
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["api_key"])


async def one_sale(market: Market) -> tuple[Account, Account, str]:
    """A publisher on 70% revshare sells one lead at $31.50 to a buyer funded with $1,000."""
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000, reference="wire-first")
    async with serve(FakeBuyer(bid=31.5)) as (fake,):
        await market.campaign(buyer, fake.delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead(sub_id="fb-12"))
    assert answer.json()["status"] == "sold", answer.text
    return publisher, buyer, str(answer.json()["lead_id"])


def section(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[start : html.index("</table>", start)]


def cells(html: str, attribute: str) -> list[str]:
    return re.findall(rf'{attribute}="([^"]*)"', html)


async def test_finance_sees_balances_and_a_settlement_whose_rows_reconcile(market: Market) -> None:
    publisher, buyer, _ = await one_sale(market)
    await sign_in(market.client, await finance_key(market))
    page = await market.client.get("/console/money")
    assert page.status_code == 200, page.text
    for element in ("settlement-form", "settlement-table", "download-csv", "download-xlsx", "balances"):
        assert f'id="{element}"' in page.text
    balances = section(page.text, "balances")
    api = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    assert api["balance_cents"] == 96_850
    buyer_row = balances[balances.index(f'href="/console/accounts/{buyer.id}"') :].split("</tr>", 1)[0]
    assert "$968.50" in buyer_row and publisher.id in balances and "Exchange: goodwill" in balances
    # Every account's row is the API's answer for it: balance, reserved, credit limit, available.
    for account_id in (buyer.id, publisher.id, "exchange", "goodwill"):
        api = (await market.client.get(f"/v1/accounts/{account_id}/balance", headers=market.admin)).json()
        row = balances[balances.index(f'href="/console/accounts/{account_id}"') :].split("</tr>", 1)[0]
        figures = [
            api[k] for k in ("balance_cents", "reserved_cents", "credit_limit_cents", "available_cents")
        ]
        shown = [int(c) for c in re.findall(r'data-cents="(-?\d+)"', row)]
        assert shown == figures, (account_id, shown, figures)

    table = section(page.text, "settlement-table")
    assert table.count('class="reconciles">yes') == 3 and "NO" not in table  # buyer, publisher, house
    settlement = (
        await market.client.get(
            "/v1/settlements",
            params={"since": _period(page.text)[0], "until": _period(page.text)[1]},
            headers=market.admin,
        )
    ).json()
    shown = [int(c) for c in cells(table, "data-cents")]
    expected = [row[c] for row in settlement["rows"] for c in COLUMNS[4:]]
    expected += [totals[c] for totals in settlement["totals"].values() for c in COLUMNS[4:]]
    assert shown == expected


def _period(html: str) -> tuple[str, str]:
    found = re.search(
        r'id="download-csv" href="/console/money/settlement.csv\?since=([0-9-]+)&amp;until=([0-9-]+)"', html
    )
    assert found is not None, html
    return found.group(1), found.group(2)


async def test_the_downloads_are_the_apis_bytes_and_the_workbook_opens(market: Market) -> None:
    await one_sale(market)
    key = await finance_key(market)
    await sign_in(market.client, key)
    page = await market.client.get("/console/money")
    since, until = _period(page.text)
    query = {"since": since, "until": until}

    mine = await market.client.get("/console/money/settlement.csv", params=query)
    api = await market.client.get("/v1/settlements", params={**query, "format": "csv"}, headers=bearer(key))
    assert mine.status_code == api.status_code == 200
    assert mine.content == api.content and b"TOTAL" in mine.content
    assert mine.headers["content-disposition"] == api.headers["content-disposition"]
    assert mine.headers["content-disposition"] == f'attachment; filename="settlement_{since}_{until}.csv"'

    workbook = await market.client.get("/console/money/settlement.xlsx", params=query)
    api_workbook = await market.client.get(
        "/v1/settlements", params={**query, "format": "xlsx"}, headers=bearer(key)
    )
    assert workbook.status_code == 200 and workbook.content == api_workbook.content
    assert workbook.headers["content-disposition"] == api_workbook.headers["content-disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content)).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0][: len(COLUMNS)]) == list(COLUMNS)
    assert [r[0] for r in rows[1:]].count("TOTAL") == 3

    month = await market.client.get("/console/money", params={"month": since[:7]})
    assert month.status_code == 200
    bad = await market.client.get("/console/money", params={"since": "yesterday"})
    assert bad.status_code == 422 and "since" in bad.text


async def test_a_buyer_sees_only_its_own_account_and_never_the_money_page(market: Market) -> None:
    publisher, buyer, lead_id = await one_sale(market)
    other = await market.buyer(name="Other Insurance")
    await sign_in(market.client, buyer.key)
    assert (await market.client.get("/console/money")).status_code == 403
    assert (await market.client.get("/console/money/settlement.csv")).status_code == 403
    assert (await market.client.get("/console/charts")).status_code == 403
    for elsewhere in (other.id, publisher.id, "goodwill"):
        assert (await market.client.get(f"/console/accounts/{elsewhere}")).status_code == 404, elsewhere
    assert (await market.client.get(f"/console/accounts/{other.id}/document?format=csv")).status_code == 404

    page = await market.client.get(f"/console/accounts/{buyer.id}")
    assert page.status_code == 200
    assert 'id="balance-cents" data-cents="96850"' in page.text
    statement = section(page.text, "statement-table")
    assert "reference wire-first" in statement and lead_id in statement
    assert 'id="closing-cents" data-cents="96850"' in statement

    since, until = re.findall(
        r'id="statement-(?:since|until)" name="\w+" type="date" value="([0-9-]+)"', page.text
    )
    period = {"since": since, "until": until}
    for extension in ("csv", "pdf"):
        mine = await market.client.get(
            f"/console/accounts/{buyer.id}/document", params={**period, "format": extension}
        )
        api = await market.client.get(
            f"/v1/buyers/{buyer.id}/invoices", params={**period, "format": extension}, headers=buyer.auth
        )
        assert mine.status_code == api.status_code == 200, mine.text
        assert mine.headers["content-disposition"] == api.headers["content-disposition"]
        if extension == "csv":
            assert mine.content == api.content and b"3150" in mine.content
        else:
            assert mine.content.startswith(b"%PDF")


async def test_the_charts_tables_carry_the_figures_the_api_reports(market: Market) -> None:
    await one_sale(market)
    await sign_in(market.client, ADMIN_KEY)
    page = await market.client.get("/console/charts")
    assert page.status_code == 200, page.text
    for chart in ("leads-per-hour-chart", "sources-chart", "daily-chart"):
        figure = page.text[page.text.index(f'id="{chart}"') :]
        assert re.match(r'id="[\w-]+" class="chart"><svg [^>]*role="img" aria-label="[^"]+"', figure)
        assert "<title>" in figure.split("</svg>", 1)[0]

    daily = (await market.client.get("/v1/reports/daily", headers=market.admin)).json()
    table = section(page.text, "daily-table")
    shown = [int(c) for c in cells(table, "data-cents")]
    assert shown == [d[k] for d in daily["days"] for k in ("revenue_cents", "payout_cents", "margin_cents")]
    assert daily["days"][-1] == {
        "day": daily["until"],
        "revenue_cents": 3150,
        "payout_cents": 2205,
        "margin_cents": 945,
    }

    sources = (await market.client.get("/v1/reports/sources", headers=market.admin)).json()
    table = section(page.text, "sources-table")
    assert [float(v) for v in cells(table, "data-value")] == [
        value for row in sources["rows"] for value in (row["sell_through"], row["return_rate"])
    ]
    assert 'data-sub-id="fb-12"' in table

    hourly = section(page.text, "leads-per-hour-table")
    last_hour = hourly[hourly.rindex("<tr ") :]
    assert '<td class="num" data-status="sold">1</td>' in last_hour


async def test_the_daily_report_refuses_a_backwards_or_endless_span(market: Market) -> None:
    answer = await market.client.get(
        "/v1/reports/daily", params={"since": "2025-03-02", "until": "2025-03-01"}, headers=market.admin
    )
    assert answer.status_code == 422 and "since" in answer.text
    answer = await market.client.get(
        "/v1/reports/daily", params={"since": "2020-01-01", "until": "2025-03-01"}, headers=market.admin
    )
    assert answer.status_code == 422 and "since" in answer.text
    answer = await market.client.get(
        "/v1/reports/daily", params={"since": "2025-03-01", "until": "2025-03-03"}, headers=market.admin
    )
    assert answer.status_code == 200
    assert [d["day"] for d in answer.json()["days"]] == ["2025-03-01", "2025-03-02", "2025-03-03"]
    assert {d["margin_cents"] for d in answer.json()["days"]} == {0}
