"""Why a lead is not sold: a dry run of the stored lead against every campaign of its vertical.

`judge` decides for one campaign, pure, with the decisions distribution itself makes (filters,
schedule, price and floor, funds, caps) in the order it makes them; `dry_run` reads what they
need and judges every campaign. Nothing is held, pinged, posted, charged or written.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from buyers.campaigns import BidPricing, FixedPricing
from buyers.caps import first_full_cap, period_key
from buyers.filters import first_miss
from buyers.pricing import fixed_price, least_bid
from buyers.schedule import DAYS, is_open, next_open
from exchange.distribution.catalog import LiveCampaign
from exchange.distribution.eligible import buyer_funds, caps_used
from exchange.distribution.records import campaign_from_row
from exchange.storage import tables as t

Outcome = Literal[
    "eligible",
    "sold",
    "paused",
    "archived",
    "offered",
    "unavailable",
    "filtered",
    "closed",
    "not_priced",
    "below_floor",
    "no_funds",
    "cap_full",
]
# What a campaign's own history with the lead says before any rule is read.
History = Literal["sold", "offered"] | None
Standing = Literal["active", "paused", "archived"]


class Rule(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The rule that decided, with what it compared: only the keys of that rule are present."""

    field: Annotated[
        str | None, msgspec.Meta(description="The filter's field (`filtered`).", examples=["state"])
    ] = None
    op: Annotated[str | None, msgspec.Meta(description="The filter's op (`filtered`).", examples=["in"])] = (
        None
    )
    value: Annotated[
        Any, msgspec.Meta(description="The filter's value (`filtered`).", examples=[["NV", "AZ"]])
    ] = None
    timezone: Annotated[
        str | None,
        msgspec.Meta(description="The schedule's time zone (`closed`).", examples=["America/New_York"]),
    ] = None
    day: Annotated[
        str | None, msgspec.Meta(description="The local day now, `mon` … `sun` (`closed`).", examples=["sat"])
    ] = None
    local_time: Annotated[
        str | None, msgspec.Meta(description="The local time now, HH:MM (`closed`).", examples=["21:40"])
    ] = None
    hours: Annotated[
        list[str] | None,
        msgspec.Meta(
            description="That day's windows; empty when the day is closed all day (`closed`).",
            examples=[["08:00-20:00"]],
        ),
    ] = None
    next_open: Annotated[
        datetime | None,
        msgspec.Meta(
            description="When the schedule opens next (UTC); absent when it names no window (`closed`).",
            examples=["2025-03-17T12:00:00Z"],
        ),
    ] = None
    period: Annotated[
        str | None, msgspec.Meta(description="The full cap's period (`cap_full`).", examples=["day"])
    ] = None
    period_key: Annotated[
        str | None,
        msgspec.Meta(description="The period it counts in (`cap_full`).", examples=["day:2025-03-14"]),
    ] = None
    max_leads: Annotated[
        int | None, msgspec.Meta(description="The cap's lead limit (`cap_full`).", examples=[100])
    ] = None
    max_spend_cents: Annotated[
        int | None, msgspec.Meta(description="The cap's spend limit, cents (`cap_full`).", examples=[500000])
    ] = None
    used_leads: Annotated[
        int | None,
        msgspec.Meta(description="Leads counted in the period so far (`cap_full`).", examples=[100]),
    ] = None
    used_spend_cents: Annotated[
        int | None,
        msgspec.Meta(
            description="Spend counted in the period so far, cents (`cap_full`).", examples=[180000]
        ),
    ] = None
    needed_cents: Annotated[
        int | None,
        msgspec.Meta(
            description="The least the lead would cost this campaign, cents (`no_funds`).", examples=[2500]
        ),
    ] = None
    available_cents: Annotated[
        int | None,
        msgspec.Meta(
            description="The buyer's balance + credit limit - reserved, cents (`no_funds`).", examples=[1200]
        ),
    ] = None
    grade: Annotated[
        str | None,
        msgspec.Meta(description="The lead's grade (`not_priced`, `below_floor`).", examples=["C"]),
    ] = None
    floor_cents: Annotated[
        int | None,
        msgspec.Meta(
            description="The vertical's floor for the grade, cents (`below_floor`).", examples=[1500]
        ),
    ] = None
    price_cents: Annotated[
        int | None,
        msgspec.Meta(
            description="The campaign's price for the grade, cents (`below_floor`).", examples=[1200]
        ),
    ] = None
    detail: Annotated[
        str | None,
        msgspec.Meta(
            description="Why its delivery cannot be used (`unavailable`).",
            examples=["no delivery adapter named 'sftp-plus' is installed"],
        ),
    ] = None


class Verdict(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    campaign_id: Annotated[
        str, msgspec.Meta(description="The campaign judged.", examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"])
    ]
    buyer_id: Annotated[
        str, msgspec.Meta(description="Its buyer.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"])
    ]
    outcome: Annotated[
        Outcome,
        msgspec.Meta(
            description=(
                "`eligible` (it would be offered the lead now), `sold` (it bought it already), "
                "`paused`, `archived`, `offered` (it was offered the lead already and is not "
                "offered it twice), "
                "`unavailable` (its delivery cannot be used), `filtered`, `closed` (schedule), "
                "`not_priced` (no price for the grade), `below_floor` (its price is under the "
                "vertical's floor), `no_funds` or `cap_full`: the first rule that left it out, in "
                "the order distribution reads them."
            ),
            examples=["filtered"],
        ),
    ]
    reason: Annotated[
        str,
        msgspec.Meta(
            description="The same, in the words of the lead's timeline.", examples=["filter state in ['NV']"]
        ),
    ]
    rule: Annotated[Rule, msgspec.Meta(description="The rule that decided, and what it compared.")] = Rule()
    price_cents: Annotated[
        int | None,
        msgspec.Meta(
            description="What it would pay, cents: its fixed price for the grade, when it has one.",
            examples=[2500],
        ),
    ] = None
    needs_ping: Annotated[
        bool,
        msgspec.Meta(
            description=("True for bid pricing: only a ping would tell its price, and a dry run sends none."),
            examples=[False],
        ),
    ] = False


class StoredLead(msgspec.Struct, frozen=True, kw_only=True):
    """A lead as stored, as much as judging it needs."""

    id: str
    vertical: str
    status: str
    grade: str | None
    fields: dict[str, Any]
    publisher_id: str
    sub_id: str | None


def judge(
    lead: StoredLead,
    live: LiveCampaign,
    *,
    standing: Standing,
    history: History,
    floors: dict[str, int],
    now: datetime,
    used: dict[str, tuple[int, int]],
    funds_cents: int,
) -> Verdict:
    """One campaign's verdict on the lead at `now`. `used`: (leads, spend_cents) by period key;
    `funds_cents`: what its buyer may still spend (eligible.buyer_funds)."""
    campaign = live.campaign

    def verdict(outcome: Outcome, reason: str, rule: Rule | None = None, **more: Any) -> Verdict:
        return Verdict(
            campaign_id=campaign.id,
            buyer_id=campaign.buyer_id,
            outcome=outcome,
            reason=reason,
            rule=rule or Rule(),
            **more,
        )

    if history == "sold":
        return verdict("sold", "bought this lead already")
    if standing != "active":
        return verdict(standing, standing)
    if history == "offered":
        return verdict("offered", "offered this lead already")
    if live.unavailable is not None:
        return verdict(
            "unavailable", f"delivery unavailable: {live.unavailable}", Rule(detail=live.unavailable)
        )
    miss = first_miss(campaign.filters, lead.fields, lead.grade)
    if miss is not None:
        rule = Rule(field=miss.field, op=miss.op, value=miss.value)
        return verdict("filtered", f"filter {miss.field} {miss.op} {miss.value!r}", rule)
    schedule = campaign.schedule
    if schedule is not None and not is_open(schedule, now):
        local = now.astimezone(ZoneInfo(schedule.timezone))
        day = DAYS[local.weekday()]
        rule = Rule(
            timezone=schedule.timezone,
            day=day,
            local_time=f"{local.hour:02d}:{local.minute:02d}",
            hours=list(schedule.hours.get(day, [])),
            next_open=next_open(schedule, now),
        )
        return verdict("closed", "schedule closed", rule)
    pricing, grade = campaign.pricing, lead.grade
    price: int | None = None
    if isinstance(pricing, FixedPricing):
        price = fixed_price(pricing, grade, floors)
        listed = pricing.cents_by_grade.get(grade) if grade is not None else None
        if price is None and listed is None:
            return verdict("not_priced", f"grade {grade} not priced", Rule(grade=grade))
        if price is None:
            floor = floors.get(grade or "", 0)
            rule = Rule(grade=grade, floor_cents=floor, price_cents=listed)
            return verdict("below_floor", f"grade {grade} priced {listed} under the floor {floor}", rule)
        least = price
    else:
        assert isinstance(pricing, BidPricing)
        least = least_bid(pricing, grade, floors)
    priced = {"price_cents": price, "needs_ping": price is None}
    if least > funds_cents:
        rule = Rule(needed_cents=least, available_cents=funds_cents)
        return verdict("no_funds", "insufficient funds", rule, **priced)
    keys = {cap.period: period_key(cap.period, now, live.cap_timezone) for cap in campaign.caps}
    counted = {period: used.get(key, (0, 0)) for period, key in keys.items()}
    over = first_full_cap(campaign.caps, counted, least)
    if over is not None:
        cap = over.cap
        rule = Rule(
            period=cap.period,
            period_key=keys[cap.period],
            max_leads=cap.max_leads,
            max_spend_cents=cap.max_spend_cents,
            used_leads=over.used_leads,
            used_spend_cents=over.used_spend_cents,
        )
        return verdict("cap_full", f"cap {cap.period} {over.measure} {over.limit} reached", rule, **priced)
    reason = f"would pay {price} cents" if price is not None else "would be pinged for a bid"
    return verdict("eligible", reason, **priced)


_c, _b = t.campaigns.c, t.buyers.c


async def dry_run(
    conn: AsyncConnection,
    lead: StoredLead,
    *,
    loaded: list[LiveCampaign],
    floors: dict[str, int],
    now: datetime,
    buyer_id: str | None = None,
) -> list[Verdict]:
    """Every campaign of the lead's vertical (only `buyer_id`'s, given one), judged at `now`.

    `loaded`: the vertical's live campaigns as the catalog holds them (read before `conn` is
    taken: a unit of work holds one connection), which know whose delivery cannot be used.
    """
    query = (
        select(_c.id, _c.active, _c.archived_at, _c.config, _c.created_at, _c.updated_at, _b.timezone)
        .join(t.buyers, _b.id == _c.buyer_id)
        .where(_c.vertical == lead.vertical)
        .order_by(_c.id)
    )
    if buyer_id is not None:
        query = query.where(_c.buyer_id == buyer_id)
    rows = (await conn.execute(query)).all()
    if not rows:
        return []
    by_id = {live.id: live for live in loaded}
    campaigns: list[tuple[LiveCampaign, Standing]] = []
    for row in rows:
        live = by_id.get(row.id)
        if live is None:
            campaign = campaign_from_row(row)
            zone = campaign.schedule.timezone if campaign.schedule else row.timezone
            live = LiveCampaign(
                campaign=campaign, cap_timezone=zone, adapter=str(campaign.delivery.get("adapter"))
            )
        standing: Standing = "archived" if row.archived_at else "active" if row.active else "paused"
        campaigns.append((live, standing))
    ids = {live.id for live, _ in campaigns}
    funds = await buyer_funds(conn, {live.campaign.buyer_id for live, _ in campaigns})
    counted = await caps_used(conn, ids)
    history = await _history(conn, lead.id)
    verdicts = []
    for live, standing in campaigns:
        used = {key: value for (cid, key), value in counted.items() if cid == live.id}
        verdicts.append(
            judge(
                lead,
                live,
                standing=standing,
                history=history.get(live.id),
                floors=floors,
                now=now,
                used=used,
                funds_cents=funds.get(live.campaign.buyer_id, 0),
            )
        )
    return verdicts


async def _history(conn: AsyncConnection, lead_id: str) -> dict[str, History]:
    """Campaigns that bought the lead, and those it was offered to (a hold) without a sale."""
    h, s = t.holds.c, t.sales.c
    offered = await conn.execute(select(h.campaign_id).where(h.lead_id == lead_id))
    sold = await conn.execute(select(s.campaign_id).where(s.lead_id == lead_id))
    found: dict[str, History] = dict.fromkeys((row.campaign_id for row in offered), "offered")
    found.update(dict.fromkeys((row.campaign_id for row in sold), "sold"))
    return found
