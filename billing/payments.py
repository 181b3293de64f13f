"""Cash in and out: a buyer's payment received, a publisher's payout paid.

Each is a balanced transaction against `cash`, posted once per (account, reference): the same
reference again answers the first transaction (and the balance it left), the same reference
with another amount is refused. A payout may not exceed what the exchange owes the publisher
unless finance forces it with a note (an advance, a correction paid outside the exchange).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.ledger import CASH, Entry, post_transaction, read_balance
from billing.periods import ensure_open
from exchange.errors import Invalid, field_invalid
from exchange.storage import tables as t

TransferKind = Literal["payment", "payout"]


class Transfer(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: str
    balance_cents: int
    is_new: bool


async def record_transfer(
    conn: AsyncConnection,
    kind: TransferKind,
    account_id: str,
    *,
    amount_cents: int,
    reference: str,
    at: datetime,
    memo: dict[str, object] | None = None,
    force: bool = False,
    dated: bool = False,
) -> Transfer:
    """Post a payment (buyer +amount, cash -amount) or a payout (publisher -amount, cash +amount).

    Call inside the caller's transaction after checking the account exists. `dated` says
    finance chose `at` (an effective date), so its month must be open."""
    memo = {**(memo or {}), "reference": reference, "amount_cents": amount_cents}
    previous = await _previous(conn, kind, account_id, reference)
    if previous is not None:
        return _replayed(previous, reference, amount_cents)
    if dated:
        await ensure_open(conn, at)
    account_type, sign = ("buyer", 1) if kind == "payment" else ("publisher", -1)
    if kind == "payout":
        owed = await _owed(conn, account_id)
        if amount_cents > owed and not force:
            raise field_invalid(
                "amount_cents",
                "exceeds_owed",
                f"{amount_cents} is more than the {owed} cents owed to {account_id};"
                " send force=true with a note to pay it anyway",
            )
    posted = await post_transaction(
        conn,
        kind=kind,
        natural_key=_natural_key(kind, account_id, reference),
        entries=[
            Entry(account_type, account_id, sign * amount_cents),
            Entry("cash", CASH, -sign * amount_cents),
        ],
        at=at,
        memo=memo,
    )
    if not posted.is_new:  # a concurrent request with the same reference won
        found = await _previous(conn, kind, account_id, reference)
        assert found is not None
        return _replayed(found, reference, amount_cents)
    balance = (await read_balance(conn, account_type, account_id)).balance_cents
    # The balance it left, so a replay answers exactly what the first request did.
    await conn.execute(
        update(t.ledger_transactions)
        .where(t.ledger_transactions.c.id == posted.transaction_id)
        .values(memo={**memo, "balance_cents": balance})
    )
    return Transfer(transaction_id=posted.transaction_id, balance_cents=balance, is_new=True)


def _natural_key(kind: TransferKind, account_id: str, reference: str) -> str:
    return f"{kind}:{account_id}:{reference}"


async def _previous(
    conn: AsyncConnection, kind: TransferKind, account_id: str, reference: str
) -> Row[Any] | None:
    tx = t.ledger_transactions.c
    return (
        await conn.execute(
            select(tx.id, tx.memo).where(tx.natural_key == _natural_key(kind, account_id, reference))
        )
    ).first()


def _replayed(previous: Row[Any], reference: str, amount_cents: int) -> Transfer:
    memo = previous.memo
    if memo.get("amount_cents") != amount_cents:
        raise Invalid(
            f"reference {reference!r} was already used for {memo.get('amount_cents')} cents",
            code="idempotency_mismatch",
        )
    return Transfer(
        transaction_id=previous.id,
        balance_cents=int(memo.get("balance_cents", 0)),
        is_new=False,
    )


async def _owed(conn: AsyncConnection, publisher_id: str) -> int:
    """What the exchange owes a publisher, its balance row locked on PostgreSQL so two payouts
    cannot both spend it (SQLite runs one writer at a time)."""
    b = t.account_balances.c
    query = select(b.balance_cents).where(b.account_type == "publisher", b.account_id == publisher_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    owed = await conn.scalar(query)
    return int(owed or 0)
