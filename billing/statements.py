"""The ledger line by line: the entries export, and one account's statement with a running balance.

A period is whole UTC days, both inclusive, as the query dates `since` and `until` mean them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from billing.exports import Cell
from billing.ledger import CASH, HOUSE, AccountType
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
    id: int
    transaction_id: str
    kind: str
    account_id: str
    account_type: str
    amount_cents: int
    lead_id: str | None
    created_at: datetime


def _entries(period: Period, after_id: int | None = None) -> Select[Any]:
    e = t.ledger_entries.c
    query = select(*(e[name] for name in ENTRY_COLUMNS)).where(*period.covers(e.created_at)).order_by(e.id)
    if after_id is not None:
        query = query.where(e.id > after_id)
    return query


async def read_entries(
    conn: AsyncConnection, period: Period, *, limit: int, after_id: int | None = None
) -> tuple[list[LedgerEntryView], bool]:
    """A page of entries in id order, and whether more follow."""
    rows = (await conn.execute(_entries(period, after_id).limit(limit + 1))).all()
    items = [LedgerEntryView(**row._mapping) for row in rows[:limit]]
    return items, len(rows) > limit


async def stream_entry_cells(engine: AsyncEngine, period: Period) -> AsyncIterator[Sequence[Cell]]:
    """Every entry of the period, in ENTRY_COLUMNS order, read on one connection as one snapshot."""
    async with engine.connect() as conn:
        result = await conn.stream(_entries(period).execution_options(yield_per=1000))
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
)


class StatementLine(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    transaction_id: str
    kind: str
    amount_cents: int
    # The account's balance just after this entry.
    balance_cents: int
    lead_id: str | None
    created_at: datetime


class Statement(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    account_type: AccountType
    account_name: str
    since: date | None
    until: date | None
    opening_balance_cents: int
    closing_balance_cents: int
    entries: list[StatementLine]


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
    query = (
        select(e.id, e.transaction_id, e.kind, e.amount_cents, e.lead_id, e.created_at)
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
        yield (None, None, "opening_balance", None, opening, None, period.start)
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
            )
        yield (None, None, "closing_balance", None, closing, None, period.end)
