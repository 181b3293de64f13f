"""The double-entry ledger: balanced transactions in integer cents, each posted at most once.

A transaction's `natural_key` (e.g. `sale:LEAD:CAMPAIGN`, `payment:BUYER:REF`) is
unique in the database, so a retried posting returns the first transaction instead
of landing twice. Each entry's signed amount is the change it makes to its account's
balance as reported to that account (CONTRACT.md, "Money").
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import BigInteger, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.statements import dialect_insert, per_dialect

AccountType = Literal["buyer", "publisher", "exchange", "cash"]
HOUSE = "exchange"
CASH = "cash"
# The house's accounts: its margin (`exchange`), and where adjustments are booked against.
HouseAccount = Literal["exchange", "goodwill", "chargebacks", "corrections"]
HOUSE_ACCOUNTS: tuple[HouseAccount, ...] = ("exchange", "goodwill", "chargebacks", "corrections")


class Entry(msgspec.Struct, frozen=True):
    account_type: AccountType
    account_id: str
    amount_cents: int
    # Funds this entry spends that were reserved for it (a sale's charge to its buyer's hold):
    # the reservation ends in the same statement that moves the balance.
    released_cents: int = 0


class Posted(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: str
    is_new: bool


class UnbalancedTransaction(AssertionError):
    """A bug, never an input error: every transaction must sum to zero."""


# Hot statements, built once (exchange/storage/statements.py); values bound at execution.
_tx = t.ledger_transactions.c
_b = t.account_balances.c

# The transaction's row, unless its natural key is already posted: then no row returns.
_INSERT_TRANSACTION = per_dialect(
    lambda dialect: (
        dialect_insert(dialect, t.ledger_transactions)
        .values(
            id=bindparam("p_id"),
            kind=bindparam("p_kind"),
            natural_key=bindparam("p_natural_key"),
            lead_id=bindparam("p_lead_id"),
            memo=bindparam("p_memo", type_=_tx.memo.type),
            created_at=bindparam("p_created_at", type_=t.UTCDateTime()),
        )
        .on_conflict_do_nothing(index_elements=[_tx.natural_key])
        .returning(_tx.id)
    )
)
_TRANSACTION_BY_KEY = select(_tx.id).where(_tx.natural_key == bindparam("natural_key"))
_INSERT_ENTRIES = t.ledger_entries.insert()


def _build_add_to_balance(dialect: str) -> Any:
    """Add `p_delta` to an account's balance and take `p_released` off what it has reserved,
    opening the account if it has none."""
    statement = dialect_insert(dialect, t.account_balances).values(
        account_type=bindparam("p_account_type"),
        account_id=bindparam("p_account_id"),
        balance_cents=bindparam("p_delta"),
        reserved_cents=-bindparam("p_released", type_=BigInteger()),
    )
    # `excluded` is the row as proposed: the delta, and the release as a negative reserve.
    return statement.on_conflict_do_update(
        index_elements=[_b.account_type, _b.account_id],
        set_={
            "balance_cents": _b.balance_cents + statement.excluded.balance_cents,
            "reserved_cents": _b.reserved_cents + statement.excluded.reserved_cents,
        },
    )


_ADD_TO_BALANCE = per_dialect(_build_add_to_balance)
_READ_BALANCE = select(_b.balance_cents, _b.reserved_cents).where(
    _b.account_type == bindparam("account_type"), _b.account_id == bindparam("account_id")
)
# A buyer's balance row, so that the hold below has a row to update.
_OPEN_BUYER_ACCOUNT = per_dialect(
    lambda dialect: (
        dialect_insert(dialect, t.account_balances)
        .values(account_type="buyer", account_id=bindparam("p_account_id"), balance_cents=0, reserved_cents=0)
        .on_conflict_do_nothing()
    )
)
_credit_limit = (
    select(t.buyers.c.credit_limit_cents).where(t.buyers.c.id == bindparam("buyer_id")).scalar_subquery()
)
# Hold `cents` when balance - reserved + credit limit covers them; a row returns if held.
_HOLD_FUNDS = (
    update(t.account_balances)
    .where(
        _b.account_type == "buyer",
        _b.account_id == bindparam("buyer_id"),
        _b.balance_cents - _b.reserved_cents - bindparam("cents") + _credit_limit >= 0,
    )
    .values(reserved_cents=_b.reserved_cents + bindparam("cents"))
    .returning(_b.reserved_cents)
)
_RELEASE_FUNDS = (
    update(t.account_balances)
    .where(_b.account_type == "buyer", _b.account_id == bindparam("buyer_id"))
    .values(reserved_cents=_b.reserved_cents - bindparam("cents"))
)


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
    inserted = await conn.execute(
        _INSERT_TRANSACTION(conn),
        {
            "p_id": transaction_id,
            "p_kind": kind,
            "p_natural_key": natural_key,
            "p_lead_id": lead_id,
            "p_memo": memo or {},
            "p_created_at": at,
        },
    )
    if inserted.first() is None:
        existing = await conn.scalar(_TRANSACTION_BY_KEY, {"natural_key": natural_key})
        return Posted(transaction_id=str(existing), is_new=False)
    await conn.execute(
        _INSERT_ENTRIES,
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
    # One executemany: the rows are upserted one after another, as separate statements would.
    await conn.execute(
        _ADD_TO_BALANCE(conn),
        [
            {
                "p_account_type": e.account_type,
                "p_account_id": e.account_id,
                "p_delta": e.amount_cents,
                "p_released": e.released_cents,
            }
            for e in entries
        ],
    )
    return Posted(transaction_id=transaction_id, is_new=True)


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    balance_cents: int
    reserved_cents: int


async def read_balance(conn: AsyncConnection, account_type: str, account_id: str) -> Balance:
    row = (
        await conn.execute(_READ_BALANCE, {"account_type": account_type, "account_id": account_id})
    ).first()
    if row is None:
        return Balance(balance_cents=0, reserved_cents=0)
    return Balance(balance_cents=row.balance_cents, reserved_cents=row.reserved_cents)


async def reserve_funds(conn: AsyncConnection, buyer_id: str, cents: int) -> bool:
    """Hold `cents` of a buyer's balance plus credit limit for a sale in flight; False if short."""
    hold = {"buyer_id": buyer_id, "cents": cents}
    if (await conn.execute(_HOLD_FUNDS, hold)).first() is not None:
        return True
    # Nothing held: short of funds, or no balance row yet (a buyer's first sale); open it and retry.
    await conn.execute(_OPEN_BUYER_ACCOUNT(conn), {"p_account_id": buyer_id})
    return (await conn.execute(_HOLD_FUNDS, hold)).first() is not None


async def release_funds(conn: AsyncConnection, buyer_id: str, cents: int) -> None:
    await conn.execute(_RELEASE_FUNDS, {"buyer_id": buyer_id, "cents": cents})
