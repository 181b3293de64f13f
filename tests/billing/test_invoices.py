"""Invoices and remittance statements: every line of the period, totals equal to the settlement's
row for the same account and period, in JSON, CSV and a PDF whose text says the same."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pypdf import PdfReader

from billing.documents import DocumentFont, render_pdf
from billing.invoices import DocumentTotals, FinanceDocument, Issuer, Party, SaleLine
from billing.ledger import CASH, Entry, post_transaction
from exchange.settings import Settings
from exchange.storage.db import create_engine
from tests.billing.ledger_scenario import approve_return, finance_key, move_to, sell
from tests.conftest import Account, Market, ShiftableClock, exchange_settings
from tests.distribution.buyers import FakeBuyer, serve

MONTH, SINCE, UNTIL = "2026-12", "2026-12-01", "2026-12-31"
COMPANY = "Northwind Lead Exchange LLC"
TOTALS = tuple(DocumentTotals.__struct_fields__)
# The settlement's columns that exist in every version of it; the others are compared when present.
SETTLED = (
    "leads",
    "gross_cents",
    "returns_cents",
    "net_cents",
    "opening_balance_cents",
    "closing_balance_cents",
)
# How each total reads in the PDF.
LABELS = {
    "invoice": {
        "leads": "Leads charged",
        "gross_cents": "Gross charges",
        "returns_cents": "Returns credited",
        "net_cents": "Net charges",
        "opening_balance_cents": "Opening balance",
        "payments_cents": "Payments received",
        "adjustments_cents": "Adjustments",
        "closing_balance_cents": "Closing balance",
    },
    "remittance": {
        "leads": "Leads sold",
        "gross_cents": "Gross payouts",
        "returns_cents": "Reversed by returns",
        "net_cents": "Net payouts",
        "opening_balance_cents": "Opening balance",
        "payments_cents": "Payouts paid",
        "adjustments_cents": "Adjustments",
        "closing_balance_cents": "Closing balance",
    },
}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return exchange_settings(
        database_url,
        company_name=COMPANY,
        company_address="1 Harbor Way\nSeattle, WA 98101",
        company_tax_id="US-98-7654321",
    )


@dataclass
class Month:
    publisher: Account
    alpha: Account
    beta: Account
    # Lead ids by what happened to them in November.
    alpha_bought: list[str]
    beta_bought: list[str]
    returned: str


async def post(settings: Settings, kind: str, key: str, entries: list[Entry], at: datetime) -> None:
    engine = create_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            await post_transaction(conn, kind=kind, natural_key=key, entries=entries, at=at)
    finally:
        await engine.dispose()


async def trade_december(market: Market, clock: ShiftableClock, settings: Settings) -> Month:
    """November opens the balances; December has sales, a payment, a return, a payout and an
    adjustment; January's sale is outside."""
    move_to(clock, "2026-11-30T12:00:00Z")
    publisher = await market.publisher(name="Acme Leads", payout={"model": "revshare", "percent": 70})
    alpha = await market.buyer(name="Alpha Insurance")
    beta = await market.buyer(name="Beta Auto")
    async with serve(FakeBuyer(), FakeBuyer()) as fakes:
        await market.campaign(alpha, fakes[0].delivery())
        await market.campaign(beta, fakes[1].delivery())
        await market.fund(alpha, 100_000)
        await market.fund(beta, 50_000)
        await sell(market, publisher, fakes, 0, 30.00)  # November: alpha −3000, publisher +2100

        move_to(clock, "2026-12-05T10:00:00Z")
        first = await sell(market, publisher, fakes, 0, 25.00)  # alpha −2500, publisher +1750
        other = await sell(market, publisher, fakes, 1, 10.00)  # beta −1000, publisher +700
        move_to(clock, "2026-12-10T09:00:00Z")
        await market.fund(alpha, 20_000)
        returned = await sell(market, publisher, fakes, 0, 40.00)  # alpha −4000, publisher +2800
        move_to(clock, "2026-12-11T08:00:00Z")
        await approve_return(market, alpha, returned)  # alpha +4000, publisher −2800
        move_to(clock, "2026-12-20T08:00:00Z")
        # A payout paid to the publisher and a goodwill credit to alpha, as the ledger records them.
        payout = [Entry("publisher", publisher.id, -1000), Entry("cash", CASH, 1000)]
        await post(settings, "payout", f"payout:{publisher.id}:run-1", payout, clock())
        goodwill = [Entry("buyer", alpha.id, 500), Entry("exchange", "goodwill", -500)]
        await post(settings, "adjustment", f"adjustment:{alpha.id}:gw-1", goodwill, clock())

        move_to(clock, "2027-01-02T09:00:00Z")
        await sell(market, publisher, fakes, 0, 50.00)  # January
    return Month(publisher, alpha, beta, [first, returned], [other], returned)


async def document(
    market: Market, path: str, headers: dict[str, str], fmt: str = "json", **query: str
) -> Any:
    params = {"format": fmt, **(query or {"month": MONTH})}
    answer = await market.client.get(path, params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json() if fmt == "json" else answer


async def settlement_rows(market: Market) -> dict[str, dict[str, Any]]:
    params = {"since": SINCE, "until": UNTIL}
    answer = await market.client.get("/v1/settlements", params=params, headers=await finance_key(market))
    assert answer.status_code == 200, answer.text
    return {row["account_id"]: row for row in answer.json()["rows"]}


def assert_matches_settlement(totals: dict[str, int], row: dict[str, Any]) -> None:
    assert {c: totals[c] for c in SETTLED} == {c: row[c] for c in SETTLED}
    for column in TOTALS:
        if column in row:
            assert totals[column] == row[column], column


def pdf_text(answer: Any) -> str:
    assert answer.headers["content-type"].startswith("application/pdf")
    assert answer.content.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)


def pdf_totals(text: str, kind: str) -> dict[str, int]:
    """Each total as the PDF prints it, back in cents (a count for `leads`)."""
    found = {}
    for column, label in LABELS[kind].items():
        matched = re.search(rf"^{re.escape(label)} (-?)\$?([\d,]+)(?:\.(\d\d))?$", text, re.MULTILINE)
        assert matched is not None, (label, text)
        sign, whole, cents = matched.groups()
        value = (
            int(whole.replace(",", "")) if cents is None else int(whole.replace(",", "")) * 100 + int(cents)
        )
        found[column] = -value if sign else value
    return found


def csv_rows(answer: Any) -> list[dict[str, str]]:
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(answer.text)))


def csv_totals(rows: list[dict[str, str]]) -> dict[str, int]:
    return {f"{r['kind']}_cents": int(r["amount_cents"]) for r in rows if r["kind"] not in ("sale", "return")}


async def test_an_invoice_lists_each_lead_and_return_and_its_totals_are_the_settlements(
    market: Market, clock: ShiftableClock, settings: Settings
) -> None:
    month = await trade_december(market, clock, settings)
    finance = await finance_key(market)
    path = f"/v1/buyers/{month.alpha.id}/invoices"
    body = await document(market, path, finance)
    assert body["number"] == f"INV-2026-12-{month.alpha.id[-10:].upper()}"
    assert (body["kind"], body["since"], body["until"]) == ("invoice", SINCE, UNTIL)
    assert body["issuer"] == {
        "name": COMPANY,
        "address": "1 Harbor Way\nSeattle, WA 98101",
        "tax_id": "US-98-7654321",
    }
    assert body["account"] == {"id": month.alpha.id, "type": "buyer", "name": "Alpha Insurance"}
    assert [(s["lead_id"], s["amount_cents"]) for s in body["sales"]] == list(
        zip(month.alpha_bought, [2500, 4000], strict=True)
    )
    assert all(s["campaign_id"] and s["vertical"] == "auto_insurance" for s in body["sales"])
    assert [(r["lead_id"], r["amount_cents"], r["reason"]) for r in body["returns"]] == [
        (month.returned, 4000, "other")
    ]
    assert body["totals"] == dict(
        leads=2, gross_cents=6500, returns_cents=4000, net_cents=2500, opening_balance_cents=97_000,
        closing_balance_cents=115_000, payments_cents=20_000, adjustments_cents=500,
    )  # fmt: skip
    rows = await settlement_rows(market)
    assert_matches_settlement(body["totals"], rows[month.alpha.id])
    # A buyer's closing balance: opening + payments − net + adjustments.
    t = body["totals"]
    assert t["closing_balance_cents"] == (
        t["opening_balance_cents"] + t["payments_cents"] - t["net_cents"] + t["adjustments_cents"]
    )

    text = pdf_text(await document(market, path, finance, "pdf"))
    for needed in (body["number"], COMPANY, "Seattle, WA 98101", "US-98-7654321", "Alpha Insurance"):
        assert needed in text
    for lead_id in [*month.alpha_bought, month.returned]:
        assert lead_id in text
    assert month.beta_bought[0] not in text
    assert pdf_totals(text, "invoice") == body["totals"]

    lines = csv_rows(await document(market, path, finance, "csv"))
    assert {(r["number"], r["issuer"], r["account_id"], r["account_name"]) for r in lines} == {
        (body["number"], COMPANY, month.alpha.id, "Alpha Insurance")
    }
    sales = [r for r in lines if r["kind"] == "sale"]
    credits = [r for r in lines if r["kind"] == "return"]
    assert [r["lead_id"] for r in sales] == month.alpha_bought
    totals = csv_totals(lines)
    assert (
        sum(int(r["amount_cents"]) for r in sales) == totals["gross_cents"] == body["totals"]["gross_cents"]
    )
    assert sum(int(r["amount_cents"]) for r in credits) == totals["returns_cents"] == 4000
    assert totals == {k: v for k, v in body["totals"].items() if k != "leads"}


async def test_a_remittance_lists_each_payout_and_reversal_and_its_totals_are_the_settlements(
    market: Market, clock: ShiftableClock, settings: Settings
) -> None:
    month = await trade_december(market, clock, settings)
    path = f"/v1/publishers/{month.publisher.id}/remittances"
    # The publisher reads its own; it never sees a buyer's campaign.
    body = await document(market, path, month.publisher.auth)
    assert body["number"].startswith("REM-2026-12-")
    assert body["account"] == {"id": month.publisher.id, "type": "publisher", "name": "Acme Leads"}
    sold = [month.alpha_bought[0], month.beta_bought[0], month.returned]
    assert [(s["lead_id"], s["amount_cents"]) for s in body["sales"]] == list(
        zip(sold, [1750, 700, 2800], strict=True)
    )
    assert all(s["campaign_id"] is None for s in body["sales"])
    assert [(r["lead_id"], r["amount_cents"]) for r in body["returns"]] == [(month.returned, 2800)]
    assert body["totals"] == dict(
        leads=3, gross_cents=5250, returns_cents=2800, net_cents=2450, opening_balance_cents=2100,
        closing_balance_cents=3550, payments_cents=1000, adjustments_cents=0,
    )  # fmt: skip
    assert_matches_settlement(body["totals"], (await settlement_rows(market))[month.publisher.id])

    text = pdf_text(await document(market, path, month.publisher.auth, "pdf"))
    for needed in (body["number"], COMPANY, "Acme Leads", *sold):
        assert needed in text
    assert "Alpha Insurance" not in text and "Beta Auto" not in text
    assert pdf_totals(text, "remittance") == body["totals"]

    lines = csv_rows(await document(market, path, month.publisher.auth, "csv"))
    totals = csv_totals(lines)
    assert sum(int(r["amount_cents"]) for r in lines if r["kind"] == "sale") == totals["gross_cents"] == 5250
    assert sum(int(r["amount_cents"]) for r in lines if r["kind"] == "return") == totals["returns_cents"]
    assert totals == {k: v for k, v in body["totals"].items() if k != "leads"}


async def test_each_account_reads_only_its_own_documents(market: Market, clock: ShiftableClock) -> None:
    move_to(clock, "2026-12-03T10:00:00Z")
    alpha, beta = await market.buyer(name="Alpha"), await market.buyer(name="Beta")
    acme, other = await market.publisher(name="Acme"), await market.publisher(name="Other")
    invoice, remittance = f"/v1/buyers/{alpha.id}/invoices", f"/v1/publishers/{acme.id}/remittances"
    cases = [
        (invoice, alpha.auth, 200),
        (invoice, beta.auth, 404),  # another buyer's: its existence is not revealed
        (invoice, acme.auth, 403),  # a publisher never reads invoices
        (invoice, market.admin, 200),
        (invoice, await finance_key(market), 200),
        (remittance, acme.auth, 200),
        (remittance, other.auth, 404),
        (remittance, alpha.auth, 403),
        (f"/v1/buyers/{acme.id}/invoices", market.admin, 404),  # a publisher's id is no buyer
        ("/v1/publishers/pub_nobody/remittances", market.admin, 404),
        (invoice, {}, 401),
    ]
    for path, headers, status in cases:
        for fmt in ("json", "pdf", "csv"):
            answer = await market.client.get(path, params={"month": MONTH, "format": fmt}, headers=headers)
            assert answer.status_code == status, (path, headers, fmt, answer.text)


async def test_an_empty_period_is_a_valid_document_of_zeros(market: Market, clock: ShiftableClock) -> None:
    move_to(clock, "2026-12-03T10:00:00Z")
    buyer = await market.buyer(name="Quiet Buyer")
    publisher = await market.publisher(name="Quiet Leads")
    zeros = {column: 0 for column in TOTALS}
    for path, kind in (
        (f"/v1/buyers/{buyer.id}/invoices", "invoice"),
        (f"/v1/publishers/{publisher.id}/remittances", "remittance"),
    ):
        body = await document(market, path, market.admin)
        assert (body["sales"], body["returns"], body["totals"]) == ([], [], zeros)
        text = pdf_text(await document(market, path, market.admin, "pdf"))
        assert body["number"] in text
        assert pdf_totals(text, kind) == zeros
        lines = csv_rows(await document(market, path, market.admin, "csv"))
        assert [r["kind"] for r in lines] == [
            "gross", "returns", "net", "payments", "adjustments", "opening_balance", "closing_balance"
        ]  # fmt: skip
        assert all(r["amount_cents"] == "0" for r in lines)


async def test_a_period_keeps_its_number_and_another_period_gets_another(
    market: Market, clock: ShiftableClock
) -> None:
    move_to(clock, "2026-12-03T10:00:00Z")
    alpha, beta = await market.buyer(name="Alpha"), await market.buyer(name="Beta")
    path = f"/v1/buyers/{alpha.id}/invoices"

    async def number(account: Account = alpha, **query: str) -> str:
        return str(
            (await document(market, f"/v1/buyers/{account.id}/invoices", market.admin, **query))["number"]
        )

    by_month = await number(month=MONTH)
    assert by_month == await number(month=MONTH) == await number(since=SINCE, until=UNTIL)
    assert by_month != await number(beta, month=MONTH)
    assert await number(since=SINCE, until="2026-12-15") == f"INV-20261201-20261215-{alpha.id[-10:].upper()}"
    answer = await document(market, path, market.admin, "pdf", month=MONTH)
    assert f'filename="{by_month}.pdf"' in answer.headers["content-disposition"]


@pytest.mark.parametrize(
    ("query", "field", "status"),
    [
        ({"month": "2026-13"}, "month", 422),
        ({"month": MONTH, "since": SINCE}, "since", 422),
        ({"since": SINCE}, "until", 422),
        ({}, "since", 422),
        ({"since": UNTIL, "until": SINCE}, "since", 422),
        ({"month": MONTH, "format": "docx"}, "format", 422),
    ],
)
async def test_a_bad_period_or_format_is_refused_naming_the_parameter(
    market: Market, query: dict[str, str], field: str, status: int
) -> None:
    buyer = await market.buyer()
    answer = await market.client.get(f"/v1/buyers/{buyer.id}/invoices", params=query, headers=market.admin)
    assert answer.status_code == status, answer.text
    assert field in answer.text


HOSTILE = [
    '<script>alert("x")</script> & <b>bold</b>',
    "Müller 株式会社",
    '=HYPERLINK("http://x")',
    "W" * 188,  # the longest a buyer name may be while its first key's name ("… (first key)") fits
    "شركة 🙂 \u202e\x07 tab\tnew\nline",
]


@pytest.mark.parametrize("name", HOSTILE)
async def test_hostile_account_names_render_as_text_in_every_format(
    market: Market, clock: ShiftableClock, name: str
) -> None:
    move_to(clock, "2026-12-03T10:00:00Z")
    publisher = await market.publisher(name="Acme Leads")
    buyer = await market.buyer(name=name, credit_limit_cents=10_000)
    async with serve(FakeBuyer()) as fakes:
        await market.campaign(buyer, fakes[0].delivery())
        lead_id = await sell(market, publisher, fakes, 0, 12.34)
    path = f"/v1/buyers/{buyer.id}/invoices"
    assert (await document(market, path, market.admin))["account"]["name"] == name
    text = pdf_text(await document(market, path, market.admin, "pdf"))
    assert lead_id in text
    # What the font can show reads as written, markup included, never interpreted.
    for word in re.findall(r"[A-Za-z<>/\"=()&ü]{4,}", name):
        assert word[:40] in text.replace("\n", ""), word
    assert pdf_totals(text, "invoice")["closing_balance_cents"] == -1234
    lines = csv_rows(await document(market, path, market.admin, "csv"))
    expected = "'" + name if name.startswith("=") else name
    assert {r["account_name"] for r in lines} == {expected}


def sample(name: str) -> FinanceDocument:
    now = datetime(2026, 11, 5, 10, tzinfo=UTC)
    return FinanceDocument(
        number="INV-2026-12-SAMPLE",
        kind="invoice",
        issuer=Issuer(name="Exchange € Ltd", address="", tax_id=None),
        account=Party(id="buy_sample", type="buyer", name=name),
        since=date(2026, 11, 1),
        until=date(2026, 11, 30),
        issued_at=now,
        sales=[
            SaleLine(
                lead_id="lead_one", vertical="solar", campaign_id="cmp_one", at=now,
                amount_cents=1999, transaction_id="txn_one",
            )
        ],
        returns=[],
        totals=DocumentTotals(
            leads=1, gross_cents=1999, returns_cents=0, net_cents=1999, opening_balance_cents=0,
            closing_balance_cents=-1999, payments_cents=0, adjustments_cents=0,
        ),
    )  # fmt: skip


def test_the_core_font_stands_in_for_characters_it_lacks(tmp_path: Any) -> None:
    # No TrueType font: the PDF core font, whose WinAnsi has ü and €, but no kanji.
    text = PdfReader(io.BytesIO(render_pdf(sample("Müller 株式会社"), None))).pages[0].extract_text()
    assert "Müller ????" in text
    assert "Exchange € Ltd" in text
    assert "lead_one" in text and "-$19.99" in text


def test_a_font_file_that_is_no_font_falls_back_to_the_core_font(tmp_path: Any) -> None:
    broken = tmp_path / "broken.ttf"
    broken.write_bytes(b"not a font at all" * 100)
    pdf = render_pdf(sample("Müller"), DocumentFont(str(broken), str(broken)))
    assert "Müller" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
