"""The ledger line by line: the entries export, and one account's statement with a running balance.

A period is whole UTC days, both inclusive, as the query dates `since` and `until` mean them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.exports import Cell
from billing.ledger import CASH, HOUSE, HOUSE_ACCOUNTS, AccountType
from exchange.clock import day_start
from exchange.errors import field_invalid
from exchange.storage import tables as t


class Period(msgspec.Struct, frozen=True, kw_only=True):
    since: date | None = None
    until: date | None = None

    @property
    def start(self) -> datetime | None:
        return None if self.since is None else day_start(self.since)

    @property
    def end(self) -> datetime | None:
        """The first instant after `until`; None when open-ended."""
        if self.until is None or self.until == date.max:
            return None
        return day_start(self.until + timedelta(days=1))

    def covers(self, at: ColumnElement[datetime]) -> list[ColumnElement[bool]]:
        conditions = []
        if self.start is not None:
            conditions.append(at >= self.start)
        if self.end is not None:
            conditions.append(at < self.end)
        return conditions


def period(since: date | None, until: date | None) -> Period:
    """The period the query asked for, refused (422 naming `since`) when it runs backwards."""
    if since is not None and until is not None and since > until:
        raise field_invalid("since", "after_until", f"{since} is after until {until}")
    return Period(since=since, until=until)


ENTRY_COLUMNS = (
    "id",
    "transaction_id",
    "kind",
    "account_id",
    "account_type",
    "amount_cents",
    "lead_id",
    "created_at",
)


class LedgerEntryView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        int,
        msgspec.Meta(description="The entry's number, in the order entries were written.", examples=[90211]),
    ]
    transaction_id: Annotated[
        str,
        msgspec.Meta(
            description="The balanced transaction it belongs to: its entries sum to zero.",
            examples=["txn_01jp9zns00qjpf2wyx08y95dhs"],
        ),
    ]
    kind: Annotated[
        str,
        msgspec.Meta(
            description="What the transaction was: `sale`, `return`, `payment`, `payout`, `adjustment`…",
            examples=["sale"],
        ),
    ]
    account_id: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The account it moves: a buyer's or publisher's id, `exchange` (the house) or `cash`."
            ),
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ]
    account_type: Annotated[
        str, msgspec.Meta(description="`buyer`, `publisher`, `exchange` or `cash`.", examples=["buyer"])
    ]
    amount_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "The signed change to the account's balance as the balance endpoint shows it, "
                "in cents (a sale: buyer −price, publisher +payout, exchange +margin)."
            ),
            examples=[-2500],
        ),
    ]
    lead_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The lead it is about, for sales and returns; null otherwise.",
            examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"],
        ),
    ]
    created_at: Annotated[
        datetime,
        msgspec.Meta(
            description=(
                "When it was posted (UTC); a payment or adjustment dated earlier carries its effective day."
            ),
            examples=["2025-03-14T09:27:01Z"],
        ),
    ]


def _entries(period: Period, after_id: int | None = None, lead_id: str | None = None) -> Select[Any]:
    e = t.ledger_entries.c
    query = select(*(e[name] for name in ENTRY_COLUMNS)).where(*period.covers(e.created_at)).order_by(e.id)
    if after_id is not None:
        query = query.where(e.id > after_id)
    if lead_id is not None:
        query = query.where(e.lead_id == lead_id)
    return query


async def read_entries(
    conn: AsyncConnection,
    period: Period,
    *,
    limit: int,
    after_id: int | None = None,
    lead_id: str | None = None,
) -> tuple[list[LedgerEntryView], bool]:
    """A page of entries in id order (only one lead's, when named), and whether more follow."""
    rows = (await conn.execute(_entries(period, after_id, lead_id).limit(limit + 1))).all()
    items = [LedgerEntryView(**row._mapping) for row in rows[:limit]]
    return items, len(rows) > limit


async def stream_entry_cells(
    engine: AsyncEngine, period: Period, lead_id: str | None = None
) -> AsyncIterator[Sequence[Cell]]:
    """Every entry of the period, in ENTRY_COLUMNS order, read on one connection as one snapshot."""
    async with engine.connect() as conn:
        result = await conn.stream(_entries(period, lead_id=lead_id).execution_options(yield_per=1000))
        async for row in result:
            yield tuple(row)


class Account(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    type: AccountType
    name: str


async def find_account(conn: AsyncConnection, account_id: str) -> Account | None:
    """A buyer, a publisher, the house or cash, by id."""
    name = await conn.scalar(select(t.buyers.c.name).where(t.buyers.c.id == account_id))
    if name is not None:
        return Account(id=account_id, type="buyer", name=name)
    name = await conn.scalar(select(t.publishers.c.name).where(t.publishers.c.id == account_id))
    if name is not None:
        return Account(id=account_id, type="publisher", name=name)
    if account_id == HOUSE:
        return Account(id=HOUSE, type="exchange", name="Exchange")
    if account_id in HOUSE_ACCOUNTS:
        return Account(id=account_id, type="exchange", name=f"Exchange: {account_id}")
    if account_id == CASH:
        return Account(id=CASH, type="cash", name="Cash")
    return None


STATEMENT_COLUMNS = (
    "id",
    "transaction_id",
    "kind",
    "amount_cents",
    "balance_cents",
    "lead_id",
    "created_at",
    "description",
)


class StatementLine(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        int,
        msgspec.Meta(description="The entry's number, in the order entries were written.", examples=[90211]),
    ]
    transaction_id: Annotated[
        str,
        msgspec.Meta(
            description="The transaction it belongs to.", examples=["txn_01jp9zns00qjpf2wyx08y95dhs"]
        ),
    ]
    kind: Annotated[
        str,
        msgspec.Meta(
            description="What the transaction was: `sale`, `return`, `payment`, `payout`, `adjustment`…",
            examples=["payment"],
        ),
    ]
    amount_cents: Annotated[
        int,
        msgspec.Meta(description="The signed change to the account's balance, in cents.", examples=[500000]),
    ]
    # The account's balance just after this entry.
    balance_cents: Annotated[
        int,
        msgspec.Meta(description="The account's balance just after this entry, in cents.", examples=[512500]),
    ]
    lead_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The lead it is about, for sales and returns; null otherwise.", examples=[None]
        ),
    ]
    created_at: Annotated[
        datetime, msgspec.Meta(description="When it was posted (UTC).", examples=["2025-03-14T09:26:53Z"])
    ]
    # What the transaction was, in words: an adjustment's reason and note, a payment's reference…
    description: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The transaction in words: an adjustment's reason and note, a payment's or "
                "payout's reference, a return's id; empty for a sale."
            ),
            examples=["reference wire-2025-0314"],
        ),
    ] = ""


def describe(kind: str, memo: dict[str, Any]) -> str:
    """A line's words from its transaction's memo."""
    if kind == "adjustment":
        corrects = (
            f" (corrects {memo['corrects']} of {memo['corrects_month']})" if memo.get("corrects") else ""
        )
        return f"{memo.get('reason')}: {memo.get('note')}{corrects}"
    if kind in ("payment", "payout"):
        return f"reference {memo.get('reference')}"
    if kind == "return":
        month = f" of a {memo['sale_month']} sale" if memo.get("sale_month") else ""
        return f"return {memo.get('return_id')}{month}"
    return ""


class Statement(msgspec.Struct, frozen=True, kw_only=True):
    account_id: Annotated[
        str,
        msgspec.Meta(
            description="The account: a buyer's or publisher's id.",
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ]
    account_type: Annotated[
        AccountType, msgspec.Meta(description="`buyer` or `publisher`.", examples=["buyer"])
    ]
    account_name: Annotated[
        str, msgspec.Meta(description="The buyer's or publisher's name.", examples=["Acme Insurance"])
    ]
    since: Annotated[
        date | None,
        msgspec.Meta(
            description="The first day covered (UTC, inclusive); null: from the first entry.",
            examples=["2025-03-01"],
        ),
    ]
    until: Annotated[
        date | None,
        msgspec.Meta(
            description="The last day covered (UTC, inclusive); null: up to now.", examples=["2025-03-31"]
        ),
    ]
    opening_balance_cents: Annotated[
        int,
        msgspec.Meta(description="The balance before the period's first entry, in cents.", examples=[12500]),
    ]
    closing_balance_cents: Annotated[
        int,
        msgspec.Meta(
            description="The balance after its last: opening plus every entry's amount, in cents.",
            examples=[475000],
        ),
    ]
    entries: Annotated[
        list[StatementLine], msgspec.Meta(description="The account's entries in the period, in order.")
    ]


async def _opening_balance(conn: AsyncConnection, account: Account, period: Period) -> int:
    if period.start is None:
        return 0
    e = t.ledger_entries.c
    total = await conn.scalar(
        select(func.sum(e.amount_cents)).where(
            e.account_type == account.type, e.account_id == account.id, e.created_at < period.start
        )
    )
    # SUM is NULL over no rows, and a NUMERIC on PostgreSQL.
    return 0 if total is None else int(total)


async def _lines(
    conn: AsyncConnection, account: Account, period: Period, opening: int
) -> AsyncIterator[StatementLine]:
    e = t.ledger_entries.c
    tx = t.ledger_transactions.c
    query = (
        select(e.id, e.transaction_id, e.kind, e.amount_cents, e.lead_id, e.created_at, tx.memo)
        .join(t.ledger_transactions, tx.id == e.transaction_id)
        .where(e.account_type == account.type, e.account_id == account.id, *period.covers(e.created_at))
        .order_by(e.id)
        .execution_options(yield_per=1000)
    )
    balance = opening
    async for row in await conn.stream(query):
        balance += row.amount_cents
        yield StatementLine(
            id=row.id,
            transaction_id=row.transaction_id,
            kind=row.kind,
            amount_cents=row.amount_cents,
            balance_cents=balance,
            lead_id=row.lead_id,
            created_at=row.created_at,
            description=describe(row.kind, row.memo or {}),
        )


async def read_statement(conn: AsyncConnection, account: Account, period: Period) -> Statement:
    opening = await _opening_balance(conn, account, period)
    lines = [line async for line in _lines(conn, account, period, opening)]
    return Statement(
        account_id=account.id,
        account_type=account.type,
        account_name=account.name,
        since=period.since,
        until=period.until,
        opening_balance_cents=opening,
        closing_balance_cents=lines[-1].balance_cents if lines else opening,
        entries=lines,
    )


async def stream_statement_cells(
    engine: AsyncEngine, account: Account, period: Period
) -> AsyncIterator[Sequence[Cell]]:
    """STATEMENT_COLUMNS rows between an `opening_balance` and a `closing_balance` row, as on paper."""
    async with engine.connect() as conn:
        opening = await _opening_balance(conn, account, period)
        yield (None, None, "opening_balance", None, opening, None, period.start, None)
        closing = opening
        async for line in _lines(conn, account, period, opening):
            closing = line.balance_cents
            yield (
                line.id,
                line.transaction_id,
                line.kind,
                line.amount_cents,
                line.balance_cents,
                line.lead_id,
                line.created_at,
                line.description,
            )
        yield (None, None, "closing_balance", None, closing, None, period.end, None)
