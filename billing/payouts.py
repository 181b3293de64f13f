"""Publisher payouts: what has been paid, and a payout run proposing what to pay next.

A run for a period proposes, per publisher, what the exchange owed it at the end of the period
less what has been paid since, never more than it owes now (a return after the period may have
taken some back), when that reaches the minimum. Each proposal carries a reference
(`run-YYYY-MM-DD`, the period's last day), so posting the run's payouts with
`POST /v1/publishers/{id}/payouts` twice pays each publisher once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import msgspec
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.exports import Cell, csv_document
from exchange.clock import day_after
from exchange.storage import tables as t


class PayoutView(msgspec.Struct, frozen=True, kw_only=True):
    transaction_id: Annotated[
        str,
        msgspec.Meta(
            description="The payout's ledger transaction.", examples=["txn_01jp9zns00qjpf2wyx08y95dhs"]
        ),
    ]
    publisher_id: Annotated[
        str, msgspec.Meta(description="The publisher paid.", examples=["pub_01jp9zn4frpfzrv0peeg471ejb"])
    ]
    amount_cents: Annotated[int, msgspec.Meta(description="The amount paid, in cents.", examples=[150000])]
    reference: Annotated[
        str,
        msgspec.Meta(
            description="The bank transfer's reference: one payout per publisher and reference.",
            examples=["run-2025-03-31"],
        ),
    ]
    created_at: Annotated[
        datetime,
        msgspec.Meta(
            description="When the money left (UTC): its effective day when one was given.",
            examples=["2025-03-15T16:02:11Z"],
        ),
    ]
    # The publisher's balance (still owed) right after this payout.
    balance_cents: Annotated[
        int,
        msgspec.Meta(
            description="What the exchange still owed the publisher right after it, in cents.", examples=[0]
        ),
    ]
    forced: Annotated[
        bool, msgspec.Meta(description="Whether it paid more than was owed (an advance).", examples=[False])
    ] = False
    note: Annotated[
        str | None,
        msgspec.Meta(description="Why, for the record; required for a forced payout.", examples=[None]),
    ] = None


class ProposedPayout(msgspec.Struct, frozen=True, kw_only=True):
    publisher_id: Annotated[
        str, msgspec.Meta(description="The publisher to pay.", examples=["pub_01jp9zn4frpfzrv0peeg471ejb"])
    ]
    publisher_name: Annotated[str, msgspec.Meta(description="Its name.", examples=["Quote Leads LLC"])]
    # Owed at the end of the period, less payouts since: what this run should pay.
    amount_cents: Annotated[
        int,
        msgspec.Meta(
            description=(
                "What this run should pay, in cents: owed at the end of the period, less "
                "payouts since (and never more than owed now)."
            ),
            examples=[150000],
        ),
    ]
    owed_at_end_cents: Annotated[
        int,
        msgspec.Meta(
            description="What the exchange owed it at the end of `until`, in cents.", examples=[160000]
        ),
    ]
    paid_since_cents: Annotated[
        int, msgspec.Meta(description="Payouts made to it after `until`, in cents.", examples=[10000])
    ]
    owed_now_cents: Annotated[
        int, msgspec.Meta(description="What it is owed now, in cents.", examples=[175000])
    ]
    reference: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The reference to pay it under: `run-` and the period's last day, so a run paid "
                "twice is refused."
            ),
            examples=["run-2025-03-31"],
        ),
    ]


class PayoutProposal(msgspec.Struct, frozen=True, kw_only=True):
    until: Annotated[
        date,
        msgspec.Meta(
            description="The period's last day (UTC, inclusive): what was earned up to its end.",
            examples=["2025-03-31"],
        ),
    ]
    minimum_cents: Annotated[
        int,
        msgspec.Meta(
            description="Publishers owed less than this, in cents, are left for a later run.", examples=[5000]
        ),
    ]
    items: Annotated[
        list[ProposedPayout],
        msgspec.Meta(description="One payout per publisher owed at least `minimum_cents`, by name."),
    ]
    total_cents: Annotated[int, msgspec.Meta(description="The run's total, in cents.", examples=[150000])]


PROPOSAL_COLUMNS = ("publisher_id", "publisher_name", "amount_cents", "amount", "reference")


async def read_payouts(conn: AsyncConnection, publisher_id: str) -> list[PayoutView]:
    """A publisher's payouts, newest first."""
    tx = t.ledger_transactions.c
    rows = await conn.execute(
        select(tx.id, tx.memo, tx.created_at)
        .where(tx.kind == "payout", tx.natural_key.startswith(f"payout:{publisher_id}:", autoescape=True))
        .order_by(tx.id.desc())
    )
    return [
        PayoutView(
            transaction_id=r.id,
            publisher_id=publisher_id,
            amount_cents=r.memo["amount_cents"],
            reference=r.memo["reference"],
            created_at=r.created_at,
            balance_cents=int(r.memo.get("balance_cents", 0)),
            forced=bool(r.memo.get("forced", False)),
            note=r.memo.get("note"),
        )
        for r in rows
    ]


async def propose_payouts(conn: AsyncConnection, until: date, minimum_cents: int) -> PayoutProposal:
    """Every publisher owed at least `minimum_cents` for the period ending with `until`."""
    e, p = t.ledger_entries.c, t.publishers.c
    end = day_after(until)
    per_publisher = (
        select(
            e.account_id,
            func.sum(case((e.created_at < end, e.amount_cents), else_=0)).label("owed_at_end"),
            func.sum(case((and_(e.kind == "payout", e.created_at >= end), -e.amount_cents), else_=0)).label(
                "paid_since"
            ),
            func.sum(e.amount_cents).label("owed_now"),
        )
        .where(e.account_type == "publisher")
        .group_by(e.account_id)
        .subquery()
    )
    a = per_publisher.c
    rows = await conn.execute(
        select(a.account_id, p.name, a.owed_at_end, a.paid_since, a.owed_now)
        .join(t.publishers, p.id == a.account_id)
        .order_by(p.name, a.account_id)
    )
    reference = f"run-{until.isoformat()}"
    items = []
    for r in rows:
        owed_at_end, paid_since, owed_now = int(r.owed_at_end), int(r.paid_since), int(r.owed_now)
        amount = min(owed_at_end - paid_since, owed_now)
        if amount > 0 and amount >= minimum_cents:
            items.append(
                ProposedPayout(
                    publisher_id=r.account_id,
                    publisher_name=r.name,
                    amount_cents=amount,
                    owed_at_end_cents=owed_at_end,
                    paid_since_cents=paid_since,
                    owed_now_cents=owed_now,
                    reference=reference,
                )
            )
    total = sum(item.amount_cents for item in items)
    return PayoutProposal(until=until, minimum_cents=minimum_cents, items=items, total_cents=total)


def proposal_csv(proposal: PayoutProposal) -> bytes:
    """One line per payout, the amount also in dollars (`1234.56`) as bank uploads want it."""
    table: Sequence[Sequence[Cell]] = [
        (
            item.publisher_id,
            item.publisher_name,
            item.amount_cents,
            (Decimal(item.amount_cents) / 100).quantize(Decimal("0.01")),
            item.reference,
        )
        for item in proposal.items
    ]
    return csv_document(PROPOSAL_COLUMNS, table)
