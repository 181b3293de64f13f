"""Adjustments: finance's manual credit or debit to a buyer or publisher, with a reason.

An adjustment is a balanced transaction against a named house account: a goodwill credit is
paid from `goodwill`, a chargeback lands in `chargebacks`, a correction in `corrections`, and
anything else against the house's margin account `exchange`. The account's signed amount is the
change to its balance as its balance endpoint reports it (a credit to a buyer raises what it can
spend; a debit to a publisher lowers what it is owed). One posting per (account, reference).
A correction may name the transaction it corrects; when that one sits in a closed month, the
correction still posts now, in the open month, and its memo points back to the original.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.ledger import Entry, HouseAccount, post_transaction, read_balance
from billing.periods import ensure_open, month_of
from billing.statements import find_account
from exchange.errors import Invalid, field_invalid
from exchange.storage import tables as t
from exchange.types import MAX_CENTS

AdjustmentReason = Literal["goodwill", "chargeback", "correction", "other"]
HOUSE_ACCOUNT_FOR: dict[str, HouseAccount] = {
    "goodwill": "goodwill",
    "chargeback": "chargebacks",
    "correction": "corrections",
    "other": "exchange",
}


class AdjustmentView(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: Annotated[
        str,
        msgspec.Meta(
            description="The adjustment's ledger transaction.", examples=["txn_01jp9zns00qjpf2wyx08y95dhs"]
        ),
    ]
    account_id: Annotated[
        str,
        msgspec.Meta(
            description="The buyer or publisher adjusted.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"]
        ),
    ]
    account_type: Annotated[str, msgspec.Meta(description="`buyer` or `publisher`.", examples=["buyer"])]
    # The signed change to the account's balance.
    amount_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "The signed change to the account's balance, in cents: positive credits a buyer "
                "(more to spend) or a publisher (more owed to it), negative debits it."
            ),
            examples=[5000],
        ),
    ]
    reason: Annotated[
        AdjustmentReason,
        msgspec.Meta(description="`goodwill`, `chargeback`, `correction` or `other`.", examples=["goodwill"]),
    ]
    house_account: Annotated[
        HouseAccount,
        msgspec.Meta(
            description=(
                "The house account on the other side of the transaction: `exchange`, "
                "`goodwill`, `chargebacks` or `corrections`."
            ),
            examples=["goodwill"],
        ),
    ]
    note: Annotated[
        str,
        msgspec.Meta(
            description="Why, as the account's statement shows it.",
            examples=["credit for the outage of 14 March"],
        ),
    ]
    reference: Annotated[
        str,
        msgspec.Meta(
            description="The reference finance gave it: one adjustment per account and reference.",
            examples=["adj-2025-0314-acme"],
        ),
    ]
    created_at: Annotated[
        datetime,
        msgspec.Meta(
            description="When it takes effect (UTC): its effective day when one was given.",
            examples=["2025-03-15T16:02:11Z"],
        ),
    ]
    # The account's balance right after the adjustment.
    balance_cents: Annotated[
        int, msgspec.Meta(description="The account's balance right after it, in cents.", examples=[480000])
    ]
    corrects: Annotated[
        str | None,
        msgspec.Meta(description="The ledger transaction it corrects; null when none.", examples=[None]),
    ] = None
    corrects_month: Annotated[
        str | None,
        msgspec.Meta(
            description=("The month (YYYY-MM) of the transaction it corrects; null when it corrects none."),
            examples=[None],
        ),
    ] = None
    by: Annotated[
        str | None,
        msgspec.Meta(
            description="The id of the key that made it.", examples=["key_01jp9zp6ngkw1n9gcjh1ch9tkh"]
        ),
    ] = None


SignedCents = Annotated[int, msgspec.Meta(ge=-MAX_CENTS, le=MAX_CENTS)]


async def post_adjustment(
    conn: AsyncConnection,
    *,
    account_id: str,
    amount_cents: int,
    reason: AdjustmentReason,
    note: str,
    reference: str,
    at: datetime,
    by: str,
    house_account: HouseAccount | None = None,
    corrects: str | None = None,
    dated: bool = False,
) -> tuple[AdjustmentView, bool]:
    """Post (or find, for a repeated reference) an adjustment; the view and whether it is new."""
    if amount_cents == 0:
        raise field_invalid("amount_cents", "zero", "an adjustment moves money: give a non-zero amount")
    account = await find_account(conn, account_id)
    if account is None or account.type not in ("buyer", "publisher"):
        raise field_invalid("account_id", "unknown_account", f"no buyer or publisher {account_id}")
    house = house_account or HOUSE_ACCOUNT_FOR[reason]
    natural_key = f"adjustment:{account_id}:{reference}"
    previous = await _by_key(conn, natural_key)
    if previous is not None:
        return _replayed(previous, amount_cents, reason), False
    corrects_month = None
    if corrects is not None:
        tx = t.ledger_transactions.c
        original = await conn.scalar(select(tx.created_at).where(tx.id == corrects))
        if original is None:
            raise field_invalid("corrects", "unknown_transaction", f"no ledger transaction {corrects}")
        corrects_month = month_of(original)
    if dated:
        await ensure_open(conn, at)
    memo: dict[str, Any] = {
        "account_id": account_id,
        "account_type": account.type,
        "amount_cents": amount_cents,
        "reason": reason,
        "house_account": house,
        "note": note,
        "reference": reference,
        "corrects": corrects,
        "corrects_month": corrects_month,
        "by": by,
    }
    posted = await post_transaction(
        conn,
        kind="adjustment",
        natural_key=natural_key,
        entries=[Entry(account.type, account_id, amount_cents), Entry("exchange", house, -amount_cents)],
        at=at,
        memo=memo,
    )
    if not posted.is_new:  # a concurrent request with the same reference won
        found = await _by_key(conn, natural_key)
        assert found is not None
        return _replayed(found, amount_cents, reason), False
    memo["balance_cents"] = (await read_balance(conn, account.type, account_id)).balance_cents
    await conn.execute(
        t.ledger_transactions.update()
        .where(t.ledger_transactions.c.id == posted.transaction_id)
        .values(memo=memo)
    )
    return _view(posted.transaction_id, memo, at), True


async def read_adjustments(
    conn: AsyncConnection, *, account_id: str | None, limit: int, before: str | None
) -> tuple[list[AdjustmentView], bool]:
    """Adjustments newest first, optionally one account's; and whether more follow."""
    tx = t.ledger_transactions.c
    query = select(tx.id, tx.memo, tx.created_at).where(tx.kind == "adjustment")
    if account_id is not None:
        query = query.where(tx.natural_key.startswith(f"adjustment:{account_id}:", autoescape=True))
    if before is not None:
        query = query.where(tx.id < before)
    rows = (await conn.execute(query.order_by(tx.id.desc()).limit(limit + 1))).all()
    return [_view(r.id, r.memo, r.created_at) for r in rows[:limit]], len(rows) > limit


async def _by_key(conn: AsyncConnection, natural_key: str) -> Any:
    tx = t.ledger_transactions.c
    return (
        await conn.execute(select(tx.id, tx.memo, tx.created_at).where(tx.natural_key == natural_key))
    ).first()


def _replayed(previous: Any, amount_cents: int, reason: str) -> AdjustmentView:
    memo = previous.memo
    if memo.get("amount_cents") != amount_cents or memo.get("reason") != reason:
        raise Invalid(
            f"reference {memo.get('reference')!r} was already used for an adjustment of "
            f"{memo.get('amount_cents')} cents ({memo.get('reason')})",
            code="idempotency_mismatch",
        )
    return _view(previous.id, memo, previous.created_at)


def _view(transaction_id: str, memo: dict[str, Any], at: datetime) -> AdjustmentView:
    return AdjustmentView(
        transaction_id=transaction_id,
        account_id=memo["account_id"],
        account_type=memo["account_type"],
        amount_cents=memo["amount_cents"],
        reason=memo["reason"],
        house_account=memo["house_account"],
        note=memo["note"],
        reference=memo["reference"],
        created_at=at,
        balance_cents=int(memo.get("balance_cents", 0)),
        corrects=memo.get("corrects"),
        corrects_month=memo.get("corrects_month"),
        by=memo.get("by"),
    )
