"""Source reports: per publisher and sub_id, how leads turned out — sold, returned,
converted — and what they earned: the closed loop that tells which sources to keep.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

import msgspec
from sqlalchemy import String, and_, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.dispositions import STATUSES
from exchange.clock import day_after, day_start
from exchange.storage import tables as t


class SourceRow(msgspec.Struct, kw_only=True):
    publisher_id: Annotated[
        str, msgspec.Meta(description="The publisher.", examples=["pub_01jp9zn4frpfzrv0peeg471ejb"])
    ]
    sub_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The publisher's sub-source; null for its leads without one.",
            examples=["fb-campaign-12"],
        ),
    ]
    leads: Annotated[
        int, msgspec.Meta(description="Leads received from the source in the period.", examples=[1200])
    ] = 0
    valid: Annotated[
        int, msgspec.Meta(description="Of those, leads neither rejected nor duplicate.", examples=[1104])
    ] = 0
    sold: Annotated[
        int,
        msgspec.Meta(
            description="Of those, leads sold at least once (returned ones included).", examples=[930]
        ),
    ] = 0
    sell_through: Annotated[
        float,
        msgspec.Meta(
            description="`sold / valid`, 0 to 1 (4 decimals; 0 without valid leads).", examples=[0.8424]
        ),
    ] = 0.0
    sales: Annotated[
        int,
        msgspec.Meta(
            description="Sales of those leads (a lead sold to two buyers counts twice).", examples=[960]
        ),
    ] = 0
    returns: Annotated[int, msgspec.Meta(description="Approved returns of those sales.", examples=[38])] = 0
    return_rate: Annotated[
        float, msgspec.Meta(description="`returns / sales`, 0 to 1 (4 decimals).", examples=[0.0396])
    ] = 0.0
    dispositions: Annotated[
        dict[str, int],
        msgspec.Meta(
            description="Leads with each disposition status buyers reported.",
            examples=[{"contacted": 610, "appointment": 140, "quoted": 220, "sold": 96, "dead": 180}],
        ),
    ] = msgspec.field(default_factory=lambda: dict.fromkeys(STATUSES, 0))
    conversion: Annotated[
        float,
        msgspec.Meta(
            description="Leads buyers reported `sold` over leads sold, 0 to 1 (4 decimals).",
            examples=[0.1032],
        ),
    ] = 0.0
    revenue_cents: Annotated[
        int,
        msgspec.Meta(
            description="What buyers paid for those leads, less approved returns, in cents.",
            examples=[2280000],
        ),
    ] = 0
    payout_cents: Annotated[
        int,
        msgspec.Meta(
            description="What the publisher earned for them, less reversed payouts, in cents.",
            examples=[1596000],
        ),
    ] = 0
    margin_cents: Annotated[
        int,
        msgspec.Meta(description="`revenue_cents − payout_cents`: the exchange's share.", examples=[684000]),
    ] = 0


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


async def source_report(
    conn: AsyncConnection, *, start: datetime, end: datetime, publisher_id: str | None = None
) -> list[SourceRow]:
    """Rows for leads received in [start, end), with their sales, returns and dispositions since."""
    lc, s, r, d = t.leads.c, t.sales.c, t.returns.c, t.dispositions.c
    in_period = [lc.received_at >= start, lc.received_at < end]
    if publisher_id is not None:
        in_period.append(lc.publisher_id == publisher_id)
    key = (lc.publisher_id, lc.sub_id)
    rows: dict[tuple[str, str | None], SourceRow] = {}

    def row(publisher: str, sub_id: str | None) -> SourceRow:
        return rows.setdefault((publisher, sub_id), SourceRow(publisher_id=publisher, sub_id=sub_id))

    counts = await conn.execute(
        select(
            *key,
            func.count(),
            func.sum(case((lc.status.in_(("rejected", "duplicate")), 0), else_=1)),
            func.sum(case((lc.status.in_(("sold", "returned")), 1), else_=0)),
        )
        .where(*in_period)
        .group_by(*key)
    )
    for publisher, sub_id, leads, valid, sold in counts:
        target = row(publisher, sub_id)
        target.leads, target.valid, target.sold = int(leads), int(valid or 0), int(sold or 0)

    money = await conn.execute(
        select(*key, func.count(s.id), func.sum(s.price_cents), func.sum(s.payout_cents))
        .join(t.sales, s.lead_id == lc.id)
        .where(*in_period)
        .group_by(*key)
    )
    for publisher, sub_id, sales, price, payout in money:
        target = row(publisher, sub_id)
        target.sales, target.revenue_cents, target.payout_cents = (
            int(sales),
            int(price or 0),
            int(payout or 0),
        )

    returned = await conn.execute(
        select(*key, func.count(r.id), func.sum(s.price_cents), func.sum(s.payout_cents))
        .join(t.returns, and_(r.lead_id == lc.id, r.status == "approved"))
        .join(t.sales, s.id == r.sale_id)
        .where(*in_period)
        .group_by(*key)
    )
    for publisher, sub_id, count, price, payout in returned:
        target = row(publisher, sub_id)
        target.returns = int(count)
        target.revenue_cents -= int(price or 0)
        target.payout_cents -= int(payout or 0)

    disposed = await conn.execute(
        select(*key, d.status, func.count(distinct(d.lead_id)))
        .join(t.dispositions, d.lead_id == lc.id)
        .where(*in_period)
        .group_by(*key, d.status)
    )
    for publisher, sub_id, status, count in disposed:
        row(publisher, sub_id).dispositions[status] = int(count)

    for target in rows.values():
        target.sell_through = _ratio(target.sold, target.valid)
        target.return_rate = _ratio(target.returns, target.sales)
        target.conversion = _ratio(target.dispositions.get("sold", 0), target.sold)
        target.margin_cents = target.revenue_cents - target.payout_cents
    return sorted(rows.values(), key=lambda x: (x.publisher_id, x.sub_id or ""))


# A source needs this many sales before its record says anything about it.
MIN_SALES_FOR_SCORE = 10


def source_score(row: SourceRow) -> float | None:
    """The source's quality in 0..1 from what buyers reported back; None while unknown.

    0.5 is an ordinary source. Returns beyond 5% of sales pull it down (a 25% return
    rate costs 0.5); closed sales lift it (a 20% conversion adds 0.5).
    """
    if row.sales < MIN_SALES_FOR_SCORE:
        return None
    penalty = min(0.5, max(0.0, row.return_rate - 0.05) * 2.5)
    bonus = min(0.5, row.dispositions.get("sold", 0) / row.sales * 2.5)
    return round(min(1.0, max(0.0, 0.5 - penalty + bonus)), 3)


async def source_scores(
    conn: AsyncConnection, *, start: datetime, end: datetime, publisher_id: str
) -> dict[str | None, float | None]:
    """Each of the publisher's sub_ids' `source_score` for leads received in [start, end).

    The score needs only what buyers sent back: sales, approved returns and closed sales
    (dispositions `sold`). Each is read from its own table by publisher, joined to its lead
    for the window and the sub_id, so the time taken follows the publisher's sales, not its
    leads (source_report counts every lead too: seconds with a million in the window).
    A lead is sold after it is received, so its sales are among those since `start`.
    """
    lc, s, r, d = t.leads.c, t.sales.c, t.returns.c, t.dispositions.c
    window = [lc.received_at >= start, lc.received_at < end]
    rows: dict[str | None, SourceRow] = {}

    def row(sub_id: str | None) -> SourceRow:
        return rows.setdefault(sub_id, SourceRow(publisher_id=publisher_id, sub_id=sub_id))

    sales = await conn.execute(
        select(lc.sub_id, func.count(s.id))
        .select_from(t.sales)
        .join(t.leads, lc.id == s.lead_id)
        .where(s.publisher_id == publisher_id, s.sold_at >= start, *window)
        .group_by(lc.sub_id)
    )
    for sub_id, count in sales:
        row(sub_id).sales = int(count)
    returned = await conn.execute(
        select(lc.sub_id, func.count(r.id))
        .select_from(t.returns)
        .join(t.leads, lc.id == r.lead_id)
        .where(r.publisher_id == publisher_id, r.status == "approved", *window)
        .group_by(lc.sub_id)
    )
    for sub_id, count in returned:
        row(sub_id).returns = int(count)
    closed = await conn.execute(
        select(lc.sub_id, func.count(distinct(d.lead_id)))
        .select_from(t.dispositions)
        .join(t.leads, lc.id == d.lead_id)
        .where(d.publisher_id == publisher_id, d.status == "sold", *window)
        .group_by(lc.sub_id)
    )
    for sub_id, count in closed:
        row(sub_id).dispositions["sold"] = int(count)
    for target in rows.values():
        target.return_rate = _ratio(target.returns, target.sales)
    return {sub_id: source_score(target) for sub_id, target in rows.items()}


class DayRow(msgspec.Struct, frozen=True, kw_only=True):
    day: Annotated[date, msgspec.Meta(description="The UTC day.", examples=["2025-03-14"])]
    revenue_cents: Annotated[
        int,
        msgspec.Meta(
            description="What buyers were charged for sales that day, less returns credited, in cents.",
            examples=[76000],
        ),
    ]
    payout_cents: Annotated[
        int,
        msgspec.Meta(
            description="What publishers earned for sales that day, less payouts reversed, in cents.",
            examples=[53200],
        ),
    ]
    margin_cents: Annotated[
        int,
        msgspec.Meta(
            description="`revenue_cents − payout_cents`: the house's share; negative when returns outweigh.",
            examples=[22800],
        ),
    ]


async def daily_report(conn: AsyncConnection, *, since: date, until: date) -> list[DayRow]:
    """Revenue, payout and margin per UTC day of [since, until] from the ledger's sales and
    returns (booked on the day they are posted), every day present, zeros included."""
    e = t.ledger_entries.c
    if conn.dialect.name == "postgresql":
        day = func.to_char(func.timezone("UTC", e.created_at), "YYYY-MM-DD", type_=String)
    else:  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" in UTC
        day = func.substr(e.created_at, 1, 10, type_=String)
    query = (
        select(day.label("day"), e.account_type, func.sum(e.amount_cents).label("cents"))
        .where(
            e.kind.in_(("sale", "return")),
            e.account_type.in_(("buyer", "publisher")),
            e.created_at >= day_start(since),
            e.created_at < day_after(until),
        )
        .group_by(day, e.account_type)
    )
    revenue: dict[str, int] = {}
    payout: dict[str, int] = {}
    for row in await conn.execute(query):
        # A buyer's charge is negative on its balance; a publisher's earning positive.
        if row.account_type == "buyer":
            revenue[row.day] = -int(row.cents)
        else:
            payout[row.day] = int(row.cents)
    rows = []
    for offset in range((until - since).days + 1):
        key = (since + timedelta(days=offset)).isoformat()
        earned, paid = revenue.get(key, 0), payout.get(key, 0)
        day_of = date.fromisoformat(key)
        rows.append(DayRow(day=day_of, revenue_cents=earned, payout_cents=paid, margin_cents=earned - paid))
    return rows
