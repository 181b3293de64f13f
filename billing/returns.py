"""Returns: a buyer claims a sold lead was bad; an approved return credits the buyer and
reverses the publisher's payout and the house's margin, in one balanced transaction.

A return is keyed by its sale (one per sale); its ledger posting by the return's id.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.ledger import HOUSE, Entry, post_transaction
from billing.periods import month_of
from exchange.errors import Conflict, Invalid, NotFound
from exchange.ids import new_id
from exchange.storage import tables as t

ReturnReason = Literal["bad_phone", "duplicate", "fraud", "not_interested", "other"]
ReturnStatus = Literal["pending", "approved", "rejected"]


class ReturnView(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str, msgspec.Meta(description="The return's id.", examples=["ret_01jp9znztrp82vt03yg1j4adyn"])
    ]
    lead_id: Annotated[
        str, msgspec.Meta(description="The lead returned.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"])
    ]
    sale_id: Annotated[
        str, msgspec.Meta(description="The sale it takes back.", examples=["sale_01jp9zq8v8nfghdyz93gr9gzjk"])
    ]
    buyer_id: Annotated[
        str, msgspec.Meta(description="The buyer returning it.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"])
    ]
    campaign_id: Annotated[
        str,
        msgspec.Meta(description="The campaign that bought it.", examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"]),
    ]
    reason: Annotated[
        str,
        msgspec.Meta(
            description=(
                "Why the buyer says the lead was bad: `bad_phone`, `duplicate`, `fraud`, "
                "`not_interested` or `other`."
            ),
            examples=["bad_phone"],
        ),
    ]
    note: Annotated[
        str | None, msgspec.Meta(description="The buyer's note.", examples=["number disconnected"])
    ]
    status: Annotated[
        ReturnStatus,
        msgspec.Meta(
            description=(
                "`pending` (an operator decides), `approved` (the buyer is credited and the "
                "publisher's payout reversed) or `rejected`."
            ),
            examples=["approved"],
        ),
    ]
    decision_note: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The decision's note (`auto` decisions explain themselves, e.g. a confirmed duplicate)."
            ),
            examples=["confirmed: number disconnected"],
        ),
    ] = None
    transaction_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The ledger transaction of an approved return's credit; null otherwise.",
            examples=["txn_01jp9zns00qjpf2wyx08y95dhs"],
        ),
    ] = None
    created_at: Annotated[
        datetime, msgspec.Meta(description="When the buyer asked (UTC).", examples=["2025-03-14T09:27:01Z"])
    ]
    decided_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="When it was decided (UTC); null while pending.", examples=["2025-03-15T16:02:11Z"]
        ),
    ] = None


def return_view(row: Any) -> ReturnView:
    return ReturnView(**{f: getattr(row, f) for f in ReturnView.__struct_fields__})


async def request_return(
    conn: AsyncConnection,
    *,
    lead_id: str,
    buyer_id: str,
    reason: ReturnReason,
    note: str | None,
    now: datetime,
) -> ReturnView:
    """Record a buyer's return of its purchase of a lead; approve it at once when the
    exchange itself can confirm the reason (a duplicate of a lead this buyer bought)."""
    s = t.sales.c
    sale = (
        await conn.execute(
            select(t.sales).where(s.lead_id == lead_id, s.buyer_id == buyer_id).order_by(s.sold_at).limit(1)
        )
    ).first()
    if sale is None:
        raise NotFound(f"no lead {lead_id}")
    config = await conn.scalar(select(t.campaigns.c.config).where(t.campaigns.c.id == sale.campaign_id))
    # The window in force when the buyer returns: the campaign's own setting (default 72 h).
    window = int((config or {}).get("return_window_hours", 72))
    closes = sale.sold_at + timedelta(hours=window)
    if now > closes:
        raise Invalid(
            f"the return window of {window} hours closed at {closes.isoformat()}",
            code="return_window_closed",
        )
    earlier = await conn.scalar(select(t.returns.c.id).where(t.returns.c.sale_id == sale.id))
    if earlier is not None:
        raise Conflict(f"this sale was already returned ({earlier})", code="already_returned")
    return_id = new_id("ret")
    await conn.execute(
        t.returns.insert().values(
            id=return_id,
            sale_id=sale.id,
            lead_id=lead_id,
            campaign_id=sale.campaign_id,
            buyer_id=buyer_id,
            publisher_id=sale.publisher_id,
            reason=reason,
            note=note,
            status="pending",
            created_at=now,
        )
    )
    await _event(conn, lead_id, "return_requested", now, return_id=return_id, reason=reason)
    if reason == "duplicate":
        original = await _bought_before(conn, lead_id, buyer_id, sale.sold_at)
        if original is not None:
            return await decide_return(
                conn, return_id, approve=True, note=f"duplicate of {original}, confirmed", by="auto", now=now
            )
    return await load_return(conn, return_id)


async def _bought_before(conn: AsyncConnection, lead_id: str, buyer_id: str, before: datetime) -> str | None:
    """A lead with the same phone or e-mail in the same vertical this buyer bought earlier."""
    lc, s = t.leads.c, t.sales.c
    lead = (await conn.execute(select(lc.vertical, lc.fields).where(lc.id == lead_id))).first()
    if lead is None:
        return None
    same = []
    for key in ("phone", "email"):
        if lead.fields.get(key):
            same.append(lc.fields[key].as_string() == str(lead.fields[key]))
    if not same:
        return None
    found = await conn.scalar(
        select(lc.id)
        .join(t.sales, and_(s.lead_id == lc.id, s.buyer_id == buyer_id))
        .where(lc.vertical == lead.vertical, lc.id != lead_id, s.sold_at < before, or_(*same))
        .limit(1)
    )
    return str(found) if found is not None else None


async def load_return(conn: AsyncConnection, return_id: str) -> ReturnView:
    row = (await conn.execute(select(t.returns).where(t.returns.c.id == return_id))).first()
    if row is None:
        raise NotFound(f"no return {return_id}")
    return return_view(row)


async def decide_return(
    conn: AsyncConnection, return_id: str, *, approve: bool, note: str | None, by: str, now: datetime
) -> ReturnView:
    """Approve (credit the buyer, reverse payout and margin) or reject a pending return, once."""
    r = t.returns.c
    decided = await conn.execute(
        update(t.returns)
        .where(r.id == return_id, r.status == "pending")
        .values(
            status="approved" if approve else "rejected",
            decided_by=by,
            decision_note=note,
            decided_at=now,
        )
        .returning(r.sale_id, r.lead_id, r.reason)
    )
    row = decided.first()
    if row is None:
        current = await load_return(conn, return_id)
        raise Conflict(f"return {return_id} is already {current.status}", code="already_decided")
    if approve:
        sale = (await conn.execute(select(t.sales).where(t.sales.c.id == row.sale_id))).one()
        posted = await post_transaction(
            conn,
            kind="return",
            natural_key=f"return:{return_id}",
            entries=[
                Entry("buyer", sale.buyer_id, sale.price_cents),
                Entry("publisher", sale.publisher_id, -sale.payout_cents),
                Entry("exchange", HOUSE, sale.payout_cents - sale.price_cents),
            ],
            at=now,
            lead_id=sale.lead_id,
            # A return dated after its sale's month closed still posts now, naming what it reverses.
            memo={
                "return_id": return_id,
                "sale_id": sale.id,
                "sale_transaction_id": sale.transaction_id,
                "sale_month": month_of(sale.sold_at),
                "decided_by": by,
            },
        )
        await conn.execute(
            update(t.returns).where(r.id == return_id).values(transaction_id=posted.transaction_id)
        )
        lc = t.leads.c
        # A lead whose every sale is returned reads `returned` (CONTRACT.md, "After the sale").
        rest = await conn.scalar(
            select(func.count())
            .select_from(t.sales)
            .outerjoin(t.returns, and_(r.sale_id == t.sales.c.id, r.status == "approved"))
            .where(t.sales.c.lead_id == sale.lead_id, r.id.is_(None))
        )
        values: dict[str, Any] = {"payout_cents": lc.payout_cents - sale.payout_cents, "updated_at": now}
        if rest == 0:
            values["status"] = "returned"
        await conn.execute(update(t.leads).where(lc.id == sale.lead_id).values(**values))
        await _event(
            conn,
            row.lead_id,
            "returned",
            now,
            return_id=return_id,
            sale_id=sale.id,
            buyer_id=sale.buyer_id,
            reason=row.reason,
            credit_cents=sale.price_cents,
            payout_reversed_cents=sale.payout_cents,
            decided_by=by,
            note=note,
            sale_month=month_of(sale.sold_at),
        )
        await _event(
            conn, row.lead_id, "ledger_posted", now, transaction_id=posted.transaction_id, kind="return"
        )
    else:
        await _event(conn, row.lead_id, "return_rejected", now, return_id=return_id, decided_by=by, note=note)
    return await load_return(conn, return_id)


async def _event(conn: AsyncConnection, lead_id: str, kind: str, at: datetime, /, **data: Any) -> None:
    await conn.execute(t.lead_events.insert().values(lead_id=lead_id, kind=kind, at=at, data=data))
