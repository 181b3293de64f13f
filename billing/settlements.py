"""Settlements: per account, what a period charged, paid out, returned, and the balances around it.

One SQL aggregate over the ledger makes every row; the JSON, CSV and XLSX answers are the
same table, so they agree to the cent. Every movement of the period is a column, so each row
reconciles (CONTRACT.md, "Money"):

    buyer:      closing = opening + payments - net + adjustments
    publisher:  closing = opening + net - payments + adjustments
    house:      closing = opening + net + adjustments

Totals are per account type; adding a buyer's charges to a publisher's payouts means nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import ColumnElement, and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.exports import Cell, XlsxColumn, csv_document, xlsx_document
from billing.ledger import HOUSE
from billing.periods import is_closed
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
    "payments_cents",
    "adjustments_cents",
)
_AMOUNTS = tuple(column.removesuffix("_cents") for column in COLUMNS if column.endswith("_cents"))
_SETTLED: tuple[SettledType, ...] = ("buyer", "publisher", "exchange")


class SettlementTotals(msgspec.Struct, frozen=True, kw_only=True):
    """One account type's rows summed: `leads` and every `_cents` column."""

    leads: Annotated[int, msgspec.Meta(description="Leads summed over the type's rows.", examples=[930])] = 0
    gross_cents: Annotated[
        int, msgspec.Meta(description="`gross_cents` summed over the type's rows.", examples=[2325000])
    ] = 0
    returns_cents: Annotated[int, msgspec.Meta(description="`returns_cents` summed.", examples=[95000])] = 0
    net_cents: Annotated[int, msgspec.Meta(description="`net_cents` summed.", examples=[2230000])] = 0
    opening_balance_cents: Annotated[
        int, msgspec.Meta(description="`opening_balance_cents` summed.", examples=[150000])
    ] = 0
    closing_balance_cents: Annotated[
        int, msgspec.Meta(description="`closing_balance_cents` summed.", examples=[420000])
    ] = 0
    payments_cents: Annotated[
        int, msgspec.Meta(description="`payments_cents` summed.", examples=[2500000])
    ] = 0
    adjustments_cents: Annotated[
        int, msgspec.Meta(description="`adjustments_cents` summed.", examples=[0])
    ] = 0


class SettlementRow(msgspec.Struct, frozen=True, kw_only=True):
    account_id: Annotated[
        str,
        msgspec.Meta(
            description="The buyer's or publisher's id, or `exchange` for the house.",
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ]
    account_type: Annotated[
        SettledType, msgspec.Meta(description="`buyer`, `publisher` or `exchange`.", examples=["buyer"])
    ]
    account_name: Annotated[
        str,
        msgspec.Meta(
            description="The buyer's or publisher's name (the house's for `exchange`).",
            examples=["Acme Insurance"],
        ),
    ]
    # Sales in the period: leads bought (buyer), sold (publisher), or sold through the house.
    leads: Annotated[
        int,
        msgspec.Meta(
            description=(
                "Sales in the period: leads bought by a buyer, sold for a publisher, or sold "
                "through the house."
            ),
            examples=[930],
        ),
    ]
    # Charges to a buyer, payouts to a publisher, margin for the house: positive.
    gross_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "Charges to a buyer, payouts earned by a publisher, margin for the house, in "
                "cents (positive)."
            ),
            examples=[2325000],
        ),
    ]
    # What approved returns in the period took back from `gross_cents`: positive.
    returns_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "What approved returns in the period took back from `gross_cents`, in cents (positive)."
            ),
            examples=[95000],
        ),
    ]
    net_cents: Annotated[int, msgspec.Meta(description="`gross_cents − returns_cents`.", examples=[2230000])]
    opening_balance_cents: Annotated[
        int,
        msgspec.Meta(
            description="The account's balance at the start of `since`, in cents.", examples=[150000]
        ),
    ]
    closing_balance_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "Its balance at the end of `until`, in cents. A buyer's row reconciles as "
                "opening + payments − net + adjustments, a publisher's as opening + net − "
                "payments + adjustments, the house's as opening + net + adjustments."
            ),
            examples=[420000],
        ),
    ]
    # Payments received from a buyer, payouts paid to a publisher: positive; 0 for the house.
    payments_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "Payments received from a buyer, payouts paid to a publisher, in cents "
                "(positive); 0 for the house."
            ),
            examples=[2500000],
        ),
    ]
    # The signed change adjustments made to the balance.
    adjustments_cents: Annotated[
        int,
        msgspec.Meta(
            description="The signed change adjustments in the period made to the balance, in cents.",
            examples=[0],
        ),
    ]

    @property
    def reconciles(self) -> bool:
        """The row's identity: its opening balance and the period's movements reach its closing."""
        movements = {
            "buyer": self.payments_cents - self.net_cents,
            "publisher": self.net_cents - self.payments_cents,
            "exchange": self.net_cents,
        }[self.account_type]
        return self.opening_balance_cents + movements + self.adjustments_cents == self.closing_balance_cents


class Settlement(msgspec.Struct, frozen=True, kw_only=True):
    rows: Annotated[
        list[SettlementRow],
        msgspec.Meta(
            description=("One row per account, buyers first, then publishers, then the house, each by name."),
        ),
    ]
    # Per account type present among the rows: "buyer", "publisher", "exchange".
    totals: Annotated[
        dict[SettledType, SettlementTotals],
        msgspec.Meta(
            description=(
                "Per account type present among the rows (`buyer`, `publisher`, `exchange`): "
                "`leads` and every `_cents` column summed."
            ),
        ),
    ]
    since: Annotated[
        date, msgspec.Meta(description="The first day covered (UTC, inclusive).", examples=["2025-03-01"])
    ]
    until: Annotated[
        date, msgspec.Meta(description="The last day covered (UTC, inclusive).", examples=["2025-03-31"])
    ]
    # Whether finance has closed every month the period touches: then no posting can change it.
    closed: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "Whether finance has closed every month the period touches: then no posting can change it."
            ),
            examples=[True],
        ),
    ] = False


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
    is_payment = and_(e.kind.in_(("payment", "payout")), in_period)
    is_adjustment = and_(e.kind == "adjustment", in_period)

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
            total(is_payment).label("payments"),
            total(is_adjustment).label("adjustments"),
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
            (a.account_type == "exchange", literal("Exchange: ") + a.account_id),
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
            a.payments,
            a.adjustments,
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
    closed = await is_closed(conn, since, until)
    return Settlement(rows=rows, totals=_totals(rows), since=since, until=until, closed=closed)


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
        # A buyer's payments raise its balance; a publisher's payouts lower it: both read positive.
        payments_cents=-sign * int(r.payments) if r.account_type != "exchange" else 0,
        adjustments_cents=int(r.adjustments),
    )


_SUMMED = COLUMNS[3:]


def _totals(rows: Sequence[SettlementRow]) -> dict[SettledType, SettlementTotals]:
    totals: dict[SettledType, SettlementTotals] = {}
    for kind in _SETTLED:
        of_kind = [row for row in rows if row.account_type == kind]
        if of_kind:
            sums = {column: sum(getattr(row, column) for row in of_kind) for column in _SUMMED}
            totals[kind] = SettlementTotals(**sums)
    return totals


def _table(settlement: Settlement) -> list[list[Cell]]:
    """COLUMNS for each row, then a TOTAL row per account type present."""
    table: list[list[Cell]] = [[getattr(row, column) for column in COLUMNS] for row in settlement.rows]
    for kind, totals in settlement.totals.items():
        table.append(["TOTAL", kind, None, *(getattr(totals, column) for column in _SUMMED)])
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
    first = COLUMNS.index("gross_cents")
    table = [row + row[first:] for row in _table(settlement)]
    return xlsx_document("settlement", columns, table)


def filename(settlement: Settlement, extension: str) -> str:
    return f"settlement_{settlement.since.isoformat()}_{settlement.until.isoformat()}.{extension}"
