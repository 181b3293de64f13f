"""Settlements: per account, what a period charged, paid out, returned, and the balances around it.

One SQL aggregate over the ledger makes every row; the JSON, CSV and XLSX answers are the
same table, so they agree to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Literal

import msgspec
from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.exports import Cell, XlsxColumn, csv_document, xlsx_document
from billing.ledger import HOUSE
from billing.statements import Period
from exchange.storage import tables as t

SettledType = Literal["buyer", "publisher", "exchange"]

# The contract fixes these columns and their order for every format.
COLUMNS = (
    "account_id",
    "account_type",
    "account_name",
    "leads",
    "gross_cents",
    "returns_cents",
    "net_cents",
    "opening_balance_cents",
    "closing_balance_cents",
)
_AMOUNTS = ("gross", "returns", "net", "opening_balance", "closing_balance")
_SETTLED: tuple[SettledType, ...] = ("buyer", "publisher", "exchange")


class SettlementTotals(msgspec.Struct, frozen=True, kw_only=True):
    leads: int
    gross_cents: int
    returns_cents: int
    net_cents: int
    opening_balance_cents: int
    closing_balance_cents: int


class SettlementRow(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    account_type: SettledType
    account_name: str
    # Sales in the period: leads bought (buyer), sold (publisher), or sold through the house.
    leads: int
    # Charges to a buyer, payouts to a publisher, margin for the house: positive.
    gross_cents: int
    # What approved returns in the period took back from `gross_cents`: positive.
    returns_cents: int
    net_cents: int
    opening_balance_cents: int
    closing_balance_cents: int


class Settlement(msgspec.Struct, frozen=True, kw_only=True):
    rows: list[SettlementRow]
    totals: SettlementTotals
    since: date
    until: date


async def read_settlement(conn: AsyncConnection, since: date, until: date) -> Settlement:
    """Every buyer, publisher and the house with entries up to the end of `until`, one row each."""
    span = Period(since=since, until=until)
    start, end = span.start, span.end
    assert start is not None
    e = t.ledger_entries.c
    up_to_end = [] if end is None else [e.created_at < end]
    in_period = e.created_at >= start
    is_sale = and_(e.kind == "sale", in_period)
    is_return = and_(e.kind == "return", in_period)

    def total(condition: ColumnElement[bool]) -> ColumnElement[int]:
        # Every group has rows, so a SUM here is never NULL.
        return func.sum(case((condition, e.amount_cents), else_=0))

    per_account = (
        select(
            e.account_type,
            e.account_id,
            func.sum(case((is_sale, 1), else_=0)).label("leads"),
            total(is_sale).label("sales"),
            total(is_return).label("returns"),
            total(e.created_at < start).label("opening"),
            func.sum(e.amount_cents).label("closing"),
        )
        .where(e.account_type.in_(_SETTLED), *up_to_end)
        .group_by(e.account_type, e.account_id)
        .subquery()
    )
    a, b, p = per_account.c, t.buyers.c, t.publishers.c
    name = func.coalesce(
        case(
            (a.account_type == "buyer", b.name),
            (a.account_type == "publisher", p.name),
            (a.account_id == HOUSE, literal("Exchange")),
        ),
        a.account_id,
    )
    query = (
        select(
            a.account_type,
            a.account_id,
            name.label("account_name"),
            a.leads,
            a.sales,
            a.returns,
            a.opening,
            a.closing,
        )
        .select_from(
            per_account.outerjoin(t.buyers, and_(a.account_type == "buyer", b.id == a.account_id)).outerjoin(
                t.publishers, and_(a.account_type == "publisher", p.id == a.account_id)
            )
        )
        .order_by(
            case({kind: i for i, kind in enumerate(_SETTLED)}, value=a.account_type), name, a.account_id
        )
    )
    rows = [_row(r) for r in await conn.execute(query)]
    return Settlement(rows=rows, totals=_totals(rows), since=since, until=until)


def _row(r: Any) -> SettlementRow:
    # A buyer's sale entries are negative and its return credits positive; the others the reverse.
    sign = -1 if r.account_type == "buyer" else 1
    gross, returned = sign * int(r.sales), -sign * int(r.returns)
    return SettlementRow(
        account_id=r.account_id,
        account_type=r.account_type,
        account_name=r.account_name,
        leads=int(r.leads),
        gross_cents=gross,
        returns_cents=returned,
        net_cents=gross - returned,
        opening_balance_cents=int(r.opening),
        closing_balance_cents=int(r.closing),
    )


def _totals(rows: Sequence[SettlementRow]) -> SettlementTotals:
    return SettlementTotals(
        leads=sum(r.leads for r in rows),
        gross_cents=sum(r.gross_cents for r in rows),
        returns_cents=sum(r.returns_cents for r in rows),
        net_cents=sum(r.net_cents for r in rows),
        opening_balance_cents=sum(r.opening_balance_cents for r in rows),
        closing_balance_cents=sum(r.closing_balance_cents for r in rows),
    )


def _table(settlement: Settlement) -> list[list[Cell]]:
    """COLUMNS for each row, then the TOTAL row with its text cells empty."""
    table: list[list[Cell]] = [[getattr(row, column) for column in COLUMNS] for row in settlement.rows]
    totals = settlement.totals
    table.append(["TOTAL", None, None, *(getattr(totals, column) for column in COLUMNS[3:])])
    return table


def settlement_csv(settlement: Settlement) -> bytes:
    return csv_document(COLUMNS, _table(settlement))


def settlement_xlsx(settlement: Settlement) -> bytes:
    """COLUMNS in cents, then the same amounts in dollars with a currency format, for people to read."""
    columns = [
        XlsxColumn(name, "integer" if name == "leads" or name.endswith("_cents") else "text")
        for name in COLUMNS
    ]
    columns += [XlsxColumn(amount, "currency") for amount in _AMOUNTS]
    table = [row + row[4:9] for row in _table(settlement)]
    return xlsx_document("settlement", columns, table)


def filename(settlement: Settlement, extension: str) -> str:
    return f"settlement_{settlement.since.isoformat()}_{settlement.until.isoformat()}.{extension}"
