"""What a lead's stored timeline said when it was last distributed, campaign by campaign.

The truth then, beside the dry run's truth now (explain.py): the `eligibility` event's
candidates and excluded reasons, then each ping's bid, each hold refused, each post and sale.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.storage import tables as t

# The reasons eligible.py, engine.py and holds.py write, by their opening words.
_REASONS = (
    ("filter ", "filtered"),
    ("schedule closed", "closed"),
    ("grade ", "not_priced"),
    ("insufficient funds", "no_funds"),
    ("funds do not cover", "no_funds"),
    ("cap ", "cap_full"),
    ("delivery unavailable", "unavailable"),
    ("offered this lead already", "offered"),
)


def outcome_of(reason: str) -> tuple[str, str | None]:
    """A stored reason as (outcome, field): the field only for a filter."""
    for opening, outcome in _REASONS:
        if reason.startswith(opening):
            field = reason[len(opening) :].split(" ", 1)[0] if outcome == "filtered" else None
            return outcome, field
    return "other", None


class PastVerdict(msgspec.Struct, kw_only=True, omit_defaults=True):
    campaign_id: Annotated[
        str, msgspec.Meta(description="The campaign.", examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"])
    ]
    buyer_id: Annotated[
        str | None, msgspec.Meta(description="Its buyer.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"])
    ] = None
    outcome: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The last thing that happened to it then: an exclusion (`filtered`, `closed`, "
                "`not_priced`, `no_funds`, `cap_full`, `unavailable`, `offered`), a ping's answer "
                "(`bid`, `no_bid`, `timeout`, `failed`…), `post_rejected` (or another post status), "
                "`sold`, or `not_reached` (a candidate the lead went elsewhere before)."
            ),
            examples=["no_bid"],
        ),
    ]
    field: Annotated[
        str | None, msgspec.Meta(description="The filter's field, when `filtered`.", examples=["state"])
    ] = None
    reason: Annotated[
        str | None,
        msgspec.Meta(
            description="The reason as the timeline stored it.", examples=["filter state in ['NV']"]
        ),
    ] = None
    bid_cents: Annotated[
        int | None, msgspec.Meta(description="What its ping answered, cents.", examples=[2600])
    ] = None
    price_cents: Annotated[
        int | None,
        msgspec.Meta(description="The price it was offered or sold at, cents.", examples=[2600]),
    ] = None


class ReasonCount(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    outcome: Annotated[
        str, msgspec.Meta(description="An outcome, as in the verdicts.", examples=["filtered"])
    ]
    field: Annotated[
        str | None, msgspec.Meta(description="The filter's field, for `filtered`.", examples=["state"])
    ] = None
    count: Annotated[int, msgspec.Meta(description="How many campaigns it was.", examples=[3])]


class AtSale(msgspec.Struct, kw_only=True, omit_defaults=True):
    at: Annotated[
        datetime,
        msgspec.Meta(
            description="When the lead was last distributed (its `eligibility` event, UTC).",
            examples=["2025-03-14T09:27:01Z"],
        ),
    ]
    unsold_reason: Annotated[
        str | None,
        msgspec.Meta(
            description="`no_eligible_campaign` or `no_buyer` when that distribution sold nothing.",
            examples=["no_buyer"],
        ),
    ] = None
    campaigns: Annotated[
        list[PastVerdict] | None,
        msgspec.Meta(description="Each campaign then (not shown to publishers)."),
    ] = None
    reasons: Annotated[
        list[ReasonCount], msgspec.Meta(description="The outcomes then, counted, without names.")
    ]


_e = t.lead_events.c
_KINDS = ("eligibility", "pinged", "skipped", "posted", "sold", "unsold")


async def at_sale(conn: AsyncConnection, lead_id: str) -> AtSale | None:
    """The lead's last distribution as its events recorded it; None if it was never distributed."""
    rows = (
        await conn.execute(
            select(_e.id, _e.kind, _e.at, _e.data)
            .where(_e.lead_id == lead_id, _e.kind.in_(_KINDS))
            .order_by(_e.id)
        )
    ).all()
    last = max((i for i, row in enumerate(rows) if row.kind == "eligibility"), default=None)
    if last is None:
        return None
    return replay([(row.kind, row.at, row.data) for row in rows[last:]])


def replay(events: list[tuple[str, datetime, dict[str, Any]]]) -> AtSale:
    """Events from an `eligibility` one on, folded into each campaign's last outcome."""
    _, at, data = events[0]
    seen: dict[str, PastVerdict] = {}
    for cid in data.get("candidates", []):
        seen[cid] = PastVerdict(campaign_id=cid, outcome="not_reached")
    for cid, reason in (data.get("excluded") or {}).items():
        outcome, field = outcome_of(reason)
        seen[cid] = PastVerdict(campaign_id=cid, outcome=outcome, field=field, reason=reason)
    result = AtSale(at=at, reasons=[])
    for kind, _, data in events[1:]:
        if kind == "unsold":
            result.unsold_reason = data.get("reason")
            continue
        cid = data.get("campaign_id")
        if cid is None:
            continue
        past = seen.setdefault(cid, PastVerdict(campaign_id=cid, outcome="not_reached"))
        if data.get("buyer_id"):
            past.buyer_id = data["buyer_id"]
        if kind == "pinged":
            past.outcome, past.bid_cents, past.price_cents = (
                data["status"],
                data.get("bid_cents"),
                data.get("price_cents"),
            )
        elif kind == "skipped":
            past.outcome, past.field = outcome_of(data.get("reason") or "")
            past.reason = data.get("reason")
        elif kind == "posted" and data.get("status") != "accepted":
            past.outcome, past.reason = f"post_{data.get('status')}", data.get("reason")
        elif kind == "sold":
            past.outcome, past.price_cents = "sold", data.get("price_cents")
    result.campaigns = list(seen.values())
    result.reasons = count_reasons((p.outcome, p.field) for p in result.campaigns)
    return result


def count_reasons(outcomes: Iterable[tuple[str, str | None]]) -> list[ReasonCount]:
    """(outcome, field) pairs counted, most frequent first: a summary that names no one."""
    counts: dict[tuple[str, str | None], int] = {}
    for key in outcomes:
        counts[key] = counts.get(key, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0][0], item[0][1] or ""))
    return [ReasonCount(outcome=outcome, field=field, count=n) for (outcome, field), n in ranked]
