"""Invoices and remittance statements: one account's period line by line, with the totals its
settlement row shows for the same period, to the cent.

A buyer's invoice charges each lead it bought and credits each approved return; a publisher's
remittance lists each payout it earned and each reversal a return made. Both are read from the
ledger by transaction kind, as settlements are, and numbered by account and period alone.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.exports import Cell, csv_document
from billing.periods import resolve_span
from billing.statements import Period
from exchange.storage import tables as t

DocumentKind = Literal["invoice", "remittance"]
PartyType = Literal["buyer", "publisher"]

_KIND_OF: dict[PartyType, DocumentKind] = {"buyer": "invoice", "publisher": "remittance"}
_PREFIX: dict[DocumentKind, str] = {"invoice": "INV", "remittance": "REM"}
# Money a buyer paid in, or the exchange paid out to a publisher, as settlements count it.
_PAYMENT_KINDS = ("payment", "payout")
# IN lists go to the database in pieces of this many ids.
_CHUNK = 500


class DocumentPeriod(msgspec.Struct, frozen=True, kw_only=True):
    """Whole UTC days, both inclusive."""

    since: date
    until: date

    @property
    def is_month(self) -> bool:
        last = calendar.monthrange(self.since.year, self.since.month)[1]
        return self.since.day == 1 and self.until == self.since.replace(day=last)

    @property
    def span(self) -> Period:
        return Period(since=self.since, until=self.until)


def document_period(month: str | None, since: date | None, until: date | None) -> DocumentPeriod:
    """`month=YYYY-MM`, or `since` and `until`, as settlements read them (422 naming the field)."""
    first, last = resolve_span(month, since, until)
    return DocumentPeriod(since=first, until=last)


def document_number(kind: DocumentKind, account_id: str, period: DocumentPeriod) -> str:
    """The same account and period always get the same number: `INV-2026-11-0F3K9QZ2RW`, or
    `INV-20261110-20261111-…` for days other than one whole month. The account's part is the
    tail of its id, the random part of it."""
    tail = re.sub(r"[^0-9A-Za-z]", "", account_id)[-10:].upper() or "ACCOUNT"
    if period.is_month:
        days = period.since.isoformat()[:7]
    else:
        days = f"{period.since.isoformat().replace('-', '')}-{period.until.isoformat().replace('-', '')}"
    return f"{_PREFIX[kind]}-{days}-{tail}"


class Issuer(msgspec.Struct, frozen=True, kw_only=True):
    """The exchange, as its settings name it."""

    name: Annotated[
        str,
        msgspec.Meta(
            description="The exchange's legal name, from its settings.", examples=["Lead Exchange Inc."]
        ),
    ]
    address: Annotated[
        str,
        msgspec.Meta(description="Its postal address.", examples=["1 Market St, San Francisco, CA 94105"]),
    ]
    tax_id: Annotated[
        str | None, msgspec.Meta(description="Its tax id; null when not set.", examples=["94-1234567"])
    ]


class Party(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str,
        msgspec.Meta(
            description="The buyer's or publisher's id.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"]
        ),
    ]
    type: Annotated[
        PartyType,
        msgspec.Meta(
            description="`buyer` (the document is an invoice) or `publisher` (a remittance statement).",
            examples=["buyer"],
        ),
    ]
    name: Annotated[str, msgspec.Meta(description="Its name.", examples=["Acme Insurance"])]


class SaleLine(msgspec.Struct, frozen=True, kw_only=True):
    """A lead bought (its price, on an invoice) or sold (the payout earned, on a remittance)."""

    lead_id: Annotated[
        str | None,
        msgspec.Meta(description="The lead bought or sold.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"]),
    ]
    vertical: Annotated[str | None, msgspec.Meta(description="Its vertical.", examples=["auto_insurance"])]
    # The buyer's campaign; never on a remittance, where the buyer is not shown.
    campaign_id: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The buyer's campaign that bought it; null on a remittance, where no buyer is shown."
            ),
            examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"],
        ),
    ]
    at: Annotated[
        datetime, msgspec.Meta(description="When it was sold (UTC).", examples=["2025-03-14T09:27:01Z"])
    ]
    amount_cents: Annotated[
        int,
        msgspec.Meta(
            description="The price charged (invoice) or the payout earned (remittance), in cents.",
            examples=[2500],
        ),
    ]
    transaction_id: Annotated[
        str,
        msgspec.Meta(
            description="The sale's ledger transaction.", examples=["txn_01jp9zns00qjpf2wyx08y95dhs"]
        ),
    ]


class ReturnLine(msgspec.Struct, frozen=True, kw_only=True):
    """An approved return: the credit to the buyer, or the payout it reversed for the publisher."""

    lead_id: Annotated[
        str | None,
        msgspec.Meta(description="The lead returned.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"]),
    ]
    return_id: Annotated[
        str | None, msgspec.Meta(description="The return's id.", examples=["ret_01jp9znztrp82vt03yg1j4adyn"])
    ]
    reason: Annotated[
        str | None, msgspec.Meta(description="The buyer's reason for the return.", examples=["bad_phone"])
    ]
    at: Annotated[
        datetime,
        msgspec.Meta(description="When the return was approved (UTC).", examples=["2025-03-15T16:02:11Z"]),
    ]
    amount_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "The credit to the buyer (invoice) or the payout reversed (remittance), in cents (positive)."
            ),
            examples=[2500],
        ),
    ]
    transaction_id: Annotated[
        str,
        msgspec.Meta(
            description="The return's ledger transaction.", examples=["txn_01jp9zns00qjpf2wyx08y95dhs"]
        ),
    ]


class DocumentTotals(msgspec.Struct, frozen=True, kw_only=True):
    """The settlement row's columns for the same account and period, with the same meaning."""

    leads: Annotated[
        int,
        msgspec.Meta(
            description="Leads bought (invoice) or sold (remittance) in the period.", examples=[930]
        ),
    ]
    gross_cents: Annotated[
        int,
        msgspec.Meta(
            description="Charges to the buyer, or payouts earned by the publisher, in cents.",
            examples=[2325000],
        ),
    ]
    returns_cents: Annotated[
        int,
        msgspec.Meta(
            description="What approved returns took back from `gross_cents`, in cents.", examples=[95000]
        ),
    ]
    net_cents: Annotated[int, msgspec.Meta(description="`gross_cents − returns_cents`.", examples=[2230000])]
    opening_balance_cents: Annotated[
        int,
        msgspec.Meta(
            description="The account's balance at the start of the period, in cents.", examples=[150000]
        ),
    ]
    closing_balance_cents: Annotated[
        int, msgspec.Meta(description="Its balance at the end of the period, in cents.", examples=[420000])
    ]
    # Payments received from a buyer; payouts paid to a publisher (positive).
    payments_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "Payments received from the buyer, or payouts paid to the publisher, in cents (positive)."
            ),
            examples=[2500000],
        ),
    ]
    # The signed change adjustments made to the balance.
    adjustments_cents: Annotated[
        int,
        msgspec.Meta(
            description="The signed change adjustments made to the balance, in cents.", examples=[0]
        ),
    ]


class FinanceDocument(msgspec.Struct, frozen=True, kw_only=True):
    number: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The document's number: the same account and period always get the same one "
                "(`INV-2025-03-…` for an invoice, `REM-…` for a remittance)."
            ),
            examples=["INV-2025-03-N03EXM3HM3"],
        ),
    ]
    kind: Annotated[
        DocumentKind,
        msgspec.Meta(
            description="`invoice` (a buyer's) or `remittance` (a publisher's statement).",
            examples=["invoice"],
        ),
    ]
    issuer: Annotated[Issuer, msgspec.Meta(description="The exchange, as its settings name it.")]
    account: Annotated[Party, msgspec.Meta(description="Whom it is for.")]
    since: Annotated[
        date, msgspec.Meta(description="The first day it covers (UTC, inclusive).", examples=["2025-03-01"])
    ]
    until: Annotated[
        date, msgspec.Meta(description="The last day it covers (UTC, inclusive).", examples=["2025-03-31"])
    ]
    issued_at: Annotated[
        datetime,
        msgspec.Meta(description="When this copy was made (UTC).", examples=["2025-03-15T16:02:11Z"]),
    ]
    sales: Annotated[
        list[SaleLine], msgspec.Meta(description="Each lead bought or sold in the period, in order.")
    ]
    returns: Annotated[
        list[ReturnLine], msgspec.Meta(description="Each approved return in the period, in order.")
    ]
    totals: Annotated[
        DocumentTotals,
        msgspec.Meta(
            description=(
                "The period's totals, as the settlement row for the same account and period has them."
            ),
        ),
    ]


async def find_party(conn: AsyncConnection, party_type: PartyType, account_id: str) -> Party | None:
    table = t.buyers if party_type == "buyer" else t.publishers
    name = await conn.scalar(select(table.c.name).where(table.c.id == account_id))
    return None if name is None else Party(id=account_id, type=party_type, name=name)


async def read_document(
    conn: AsyncConnection, party: Party, period: DocumentPeriod, *, issuer: Issuer, issued_at: datetime
) -> FinanceDocument:
    """The account's invoice (a buyer) or remittance statement (a publisher) for the period."""
    span = period.span
    assert span.start is not None
    e, tx = t.ledger_entries.c, t.ledger_transactions.c
    mine = (e.account_type == party.type, e.account_id == party.id)
    opening = await conn.scalar(select(func.sum(e.amount_cents)).where(*mine, e.created_at < span.start))
    # Every entry of the period in one read: the lines and the sums are the same snapshot.
    query = (
        select(e.kind, e.lead_id, e.amount_cents, e.created_at, e.transaction_id, tx.memo)
        .join(t.ledger_transactions, tx.id == e.transaction_id)
        .where(*mine, *span.covers(e.created_at))
        .order_by(e.created_at, e.id)
    )
    entries = (await conn.execute(query)).all()
    # A buyer's charges are negative entries and its credits positive; a publisher's the reverse.
    sign = -1 if party.type == "buyer" else 1
    sold = [r for r in entries if r.kind == "sale"]
    returned = [r for r in entries if r.kind == "return"]
    verticals = await _verticals(conn, {r.lead_id for r in [*sold, *returned] if r.lead_id})
    reasons = await _reasons(conn, {rid for r in returned if (rid := _memo(r, "return_id"))})
    sales = [
        SaleLine(
            lead_id=r.lead_id,
            vertical=verticals.get(r.lead_id or ""),
            campaign_id=_memo(r, "campaign_id") if party.type == "buyer" else None,
            at=r.created_at,
            amount_cents=sign * r.amount_cents,
            transaction_id=r.transaction_id,
        )
        for r in sold
    ]
    returns = [
        ReturnLine(
            lead_id=r.lead_id,
            return_id=_memo(r, "return_id"),
            reason=reasons.get(_memo(r, "return_id") or ""),
            at=r.created_at,
            amount_cents=-sign * r.amount_cents,
            transaction_id=r.transaction_id,
        )
        for r in returned
    ]
    opening_cents = 0 if opening is None else int(opening)  # NULL over no rows; NUMERIC on PostgreSQL
    gross = sum(line.amount_cents for line in sales)
    credited = sum(line.amount_cents for line in returns)
    totals = DocumentTotals(
        leads=len(sales),
        gross_cents=gross,
        returns_cents=credited,
        net_cents=gross - credited,
        opening_balance_cents=opening_cents,
        closing_balance_cents=opening_cents + sum(r.amount_cents for r in entries),
        # A payment raises a buyer's balance; a payout lowers what the exchange owes a publisher.
        payments_cents=-sign * _sum_of(entries, *_PAYMENT_KINDS),
        adjustments_cents=_sum_of(entries, "adjustment"),
    )
    return FinanceDocument(
        number=document_number(_KIND_OF[party.type], party.id, period),
        kind=_KIND_OF[party.type],
        issuer=issuer,
        account=party,
        since=period.since,
        until=period.until,
        issued_at=issued_at,
        sales=sales,
        returns=returns,
        totals=totals,
    )


def _memo(row: Any, key: str) -> str | None:
    value = (row.memo or {}).get(key)
    return None if value is None else str(value)


def _sum_of(entries: Sequence[Any], *kinds: str) -> int:
    return sum(r.amount_cents for r in entries if r.kind in kinds)


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


async def _verticals(conn: AsyncConnection, lead_ids: set[str]) -> dict[str, str]:
    lc = t.leads.c
    found: dict[str, str] = {}
    for chunk in _chunks(lead_ids):
        found.update(
            (row.id, row.vertical)
            for row in await conn.execute(select(lc.id, lc.vertical).where(lc.id.in_(chunk)))
        )
    return found


async def _reasons(conn: AsyncConnection, return_ids: set[str]) -> dict[str, str]:
    r = t.returns.c
    found: dict[str, str] = {}
    for chunk in _chunks(return_ids):
        found.update(
            (row.id, row.reason) for row in await conn.execute(select(r.id, r.reason).where(r.id.in_(chunk)))
        )
    return found


# The CSV: one row per line, then one per total; every row carries the number and both parties.
CSV_COLUMNS = (
    "number",
    "issuer",
    "account_id",
    "account_name",
    "kind",
    "lead_id",
    "vertical",
    "campaign_id",
    "reason",
    "at",
    "amount_cents",
)
# The total rows' `kind`, each the DocumentTotals field of that name plus `_cents`.
CSV_TOTALS = (
    "gross",
    "returns",
    "net",
    "payments",
    "adjustments",
    "opening_balance",
    "closing_balance",
)


def document_csv(document: FinanceDocument) -> bytes:
    """The sale rows sum to the `gross` row and the return rows to the `returns` row; the
    opening and closing rows are dated at the period's first and last instants."""
    head = (document.number, document.issuer.name, document.account.id, document.account.name)
    rows: list[Sequence[Cell]] = []
    for sale in document.sales:
        rows.append(
            (*head, "sale", sale.lead_id, sale.vertical, sale.campaign_id, None, sale.at, sale.amount_cents)
        )
    for credit in document.returns:
        rows.append(
            (*head, "return", credit.lead_id, None, None, credit.reason, credit.at, credit.amount_cents)
        )
    span = DocumentPeriod(since=document.since, until=document.until).span
    for total in CSV_TOTALS:
        at = span.start if total == "opening_balance" else span.end if total == "closing_balance" else None
        cents = getattr(document.totals, f"{total}_cents")
        rows.append((*head, total, None, None, None, None, at, cents))
    return csv_document(CSV_COLUMNS, rows)


def document_filename(document: FinanceDocument, extension: str) -> str:
    return f"{document.number}.{extension}"
