"""The double-entry ledger: balanced transactions in integer cents, each posted at most once.

A transaction's `natural_key` (e.g. `sale:LEAD:CAMPAIGN`, `payment:BUYER:REF`) is
unique in the database, so a retried posting returns the first transaction instead
of landing twice. Each entry's signed amount is the change it makes to its account's
balance as reported to that account (CONTRACT.md, "Money").
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.upsert import insert_for

AccountType = Literal["buyer", "publisher", "exchange", "cash"]
HOUSE = "exchange"
CASH = "cash"


class Entry(msgspec.Struct, frozen=True):
    account_type: AccountType
    account_id: str
    amount_cents: int


class Posted(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: str
    is_new: bool


class UnbalancedTransaction(AssertionError):
    """A bug, never an input error: every transaction must sum to zero."""


async def post_transaction(
    conn: AsyncConnection,
    *,
    kind: str,
    natural_key: str,
    entries: list[Entry],
    at: datetime,
    lead_id: str | None = None,
    memo: dict[str, object] | None = None,
) -> Posted:
    """Post a balanced transaction inside the caller's database transaction, once per key."""
    if sum(e.amount_cents for e in entries) != 0 or not entries:
        raise UnbalancedTransaction(f"{natural_key}: entries sum to {sum(e.amount_cents for e in entries)}")
    transaction_id = new_id("txn")
    tx = t.ledger_transactions.c
    inserted = await conn.execute(
        insert_for(conn, t.ledger_transactions)
        .values(
            id=transaction_id,
            kind=kind,
            natural_key=natural_key,
            lead_id=lead_id,
            memo=memo or {},
            created_at=at,
        )
        .on_conflict_do_nothing(index_elements=[tx.natural_key])
        .returning(tx.id)
    )
    if inserted.first() is None:
        existing = await conn.scalar(select(tx.id).where(tx.natural_key == natural_key))
        return Posted(transaction_id=str(existing), is_new=False)
    await conn.execute(
        t.ledger_entries.insert(),
        [
            {
                "transaction_id": transaction_id,
                "kind": kind,
                "account_type": e.account_type,
                "account_id": e.account_id,
                "amount_cents": e.amount_cents,
                "lead_id": lead_id,
                "created_at": at,
            }
            for e in entries
        ],
    )
    for e in entries:
        await add_to_balance(conn, e.account_type, e.account_id, e.amount_cents)
    return Posted(transaction_id=transaction_id, is_new=True)


async def add_to_balance(conn: AsyncConnection, account_type: str, account_id: str, delta: int) -> None:
    b = t.account_balances.c
    statement = insert_for(conn, t.account_balances).values(
        account_type=account_type, account_id=account_id, balance_cents=delta, reserved_cents=0
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[b.account_type, b.account_id],
            set_={"balance_cents": b.balance_cents + delta},
        )
    )


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    balance_cents: int
    reserved_cents: int


async def read_balance(conn: AsyncConnection, account_type: str, account_id: str) -> Balance:
    b = t.account_balances.c
    row = (
        await conn.execute(
            select(b.balance_cents, b.reserved_cents).where(
                b.account_type == account_type, b.account_id == account_id
            )
        )
    ).first()
    if row is None:
        return Balance(balance_cents=0, reserved_cents=0)
    return Balance(balance_cents=row.balance_cents, reserved_cents=row.reserved_cents)


async def reserve_funds(conn: AsyncConnection, buyer_id: str, cents: int) -> bool:
    """Hold `cents` of a buyer's balance plus credit limit for a sale in flight; False if short."""
    b = t.account_balances.c
    await conn.execute(
        insert_for(conn, t.account_balances)
        .values(account_type="buyer", account_id=buyer_id, balance_cents=0, reserved_cents=0)
        .on_conflict_do_nothing()
    )
    credit = select(t.buyers.c.credit_limit_cents).where(t.buyers.c.id == buyer_id).scalar_subquery()
    held = await conn.execute(
        update(t.account_balances)
        .where(
            b.account_type == "buyer",
            b.account_id == buyer_id,
            b.balance_cents - b.reserved_cents - cents + credit >= 0,
        )
        .values(reserved_cents=b.reserved_cents + cents)
        .returning(b.reserved_cents)
    )
    return held.first() is not None


async def release_funds(conn: AsyncConnection, buyer_id: str, cents: int) -> None:
    b = t.account_balances.c
    await conn.execute(
        update(t.account_balances)
        .where(b.account_type == "buyer", b.account_id == buyer_id)
        .values(reserved_cents=b.reserved_cents - cents)
    )
