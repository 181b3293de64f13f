"""A campaign: a buyer's standing order for leads of one vertical (CONTRACT.md, "Campaigns").

These Structs are the one description of a campaign: they decode the API body,
validate its shape, and are what distribution reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from adapters.outbound.registry import AdapterRegistry
from buyers.deliveries import DELIVERY_EXAMPLES, DELIVERY_UNION, ResponseRule
from buyers.deliveries import Accepted as Accepted  # also read from here, beside ResponseRule
from exchange.types import GRADE_KEYS, MAX_CENTS, documented

FilterOp = Literal["eq", "ne", "in", "not_in", "between", "gte", "lte", "prefix", "exists"]
Period = Literal["hour", "day", "week", "month"]
NonNegative = Annotated[int, msgspec.Meta(ge=0, le=MAX_CENTS)]
Positive = Annotated[int, msgspec.Meta(ge=1)]


class Filter(msgspec.Struct, frozen=True, kw_only=True):
    field: Annotated[
        str,
        msgspec.Meta(
            description="A canonical lead field, a field of the campaign's vertical, or `grade`.",
            examples=["state"],
        ),
    ]
    op: Annotated[
        FilterOp,
        msgspec.Meta(
            description=(
                "How the lead's value is compared: `eq`, `ne`, `in`, `not_in`, `between` "
                "(`[low, high]`, both inclusive), `gte`, `lte`, `prefix` (a string or a list of "
                "them, e.g. zip prefixes) or `exists` (`true`/`false`)."
            ),
            examples=["in"],
        ),
    ]
    value: Annotated[
        Any,
        msgspec.Meta(
            description=(
                "What the op compares with: one value, a list for `in`, `not_in` and `prefix`, "
                "`[low, high]` for `between`, a boolean for `exists`. Values of an enum field "
                "are matched in the spelling leads carry."
            ),
            examples=[["CA", "NV"]],
        ),
    ] = None


class Cap(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    period: Annotated[
        Period,
        msgspec.Meta(
            description=(
                "The period the cap counts over, in the schedule's time zone (the buyer's when "
                "there is no schedule): it resets at the start of each hour, day, week (Monday) "
                "or month."
            ),
            examples=["day"],
        ),
    ]
    max_leads: Annotated[
        NonNegative | None,
        msgspec.Meta(
            description=(
                "At most this many leads sold to the campaign per period; a cap names this, "
                "`max_spend_cents`, or both."
            ),
            examples=[100],
        ),
    ] = None
    max_spend_cents: Annotated[
        NonNegative | None,
        msgspec.Meta(
            description=(
                "At most this much spent per period, in cents: a lead whose price would pass it "
                "is not sold to the campaign."
            ),
            examples=[500000],
        ),
    ] = None


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    timezone: Annotated[
        str,
        msgspec.Meta(
            description="The IANA time zone the hours are read in.", examples=["America/Los_Angeles"]
        ),
    ]
    hours: Annotated[
        dict[str, list[str]],
        msgspec.Meta(
            description=(
                "Day keys `mon` … `sun`, each a list of `HH:MM-HH:MM` windows (start inclusive, "
                "end exclusive, `24:00` ends a day); a day not named is closed all day."
            ),
            examples=[{"mon": ["08:00-12:00", "13:00-20:00"], "sat": ["10:00-14:00"]}],
        ),
    ]


class FixedPricing(msgspec.Struct, frozen=True, kw_only=True, tag_field="model", tag="fixed"):
    cents_by_grade: Annotated[
        # check_pricing names a bad grade, or none priced: documented, not decoded (exchange/types.py)
        dict[str, NonNegative],
        GRADE_KEYS,
        documented(minProperties=1),
        msgspec.Meta(
            description=(
                "The price of a lead of each grade, in cents; a lead of a grade not named is not bought."
            ),
            examples=[{"A": 2500, "B": 1800}],
        ),
    ]


class BidPricing(msgspec.Struct, frozen=True, kw_only=True, tag_field="model", tag="bid"):
    floor_cents: Annotated[
        NonNegative,
        msgspec.Meta(
            description=(
                "The least this campaign pays, in cents: a bid below it (or below the "
                "vertical's floor for the grade) is no bid."
            ),
            examples=[500],
        ),
    ] = 0


Pricing = FixedPricing | BidPricing


class CampaignIn(msgspec.Struct, frozen=True, kw_only=True):
    """The body of POST /v1/campaigns; PATCH takes any subset of these keys."""

    buyer_id: Annotated[
        str,
        msgspec.Meta(
            description="The buyer the campaign buys for; a buyer's key may only name itself.",
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ]
    vertical: Annotated[
        str,
        msgspec.Meta(description="The key of the vertical whose leads it buys.", examples=["auto_insurance"]),
    ]
    pricing: Annotated[
        Pricing,
        msgspec.Meta(
            description=(
                "What it pays: `fixed` (a price per grade) or `bid` (the price its ping "
                "answers, at least the floor)."
            ),
            examples=[
                {"model": "bid", "floor_cents": 500},
                {"model": "fixed", "cents_by_grade": {"A": 2500, "B": 1800}},
            ],
        ),
    ]
    delivery: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description=(
                "How leads reach the buyer, by the adapter `adapter` names: `http` (pings and "
                "posts in JSON, form or XML), `email`, `ftp` (CSV files over FTP or SFTP), "
                "`webhook` (signed JSON), or one a plugin registered. E-mail, file and webhook "
                "deliveries carry no pings: fixed pricing only."
            ),
            examples=DELIVERY_EXAMPLES,
            extra=DELIVERY_UNION,
        ),
    ]
    name: Annotated[
        str | None,
        msgspec.Meta(
            description="A label for people: consoles and reports show it.", examples=["CA auto, weekdays"]
        ),
    ] = None
    active: Annotated[
        bool,
        msgspec.Meta(
            description="Whether it buys now; `false` pauses it without changing anything else.",
            examples=[True],
        ),
    ] = True
    filters: Annotated[
        list[Filter],
        msgspec.Meta(
            description=(
                "Every filter must match for a lead to be offered; none: every lead of the vertical."
            ),
        ),
    ] = msgspec.field(default_factory=list)
    caps: Annotated[
        list[Cap],
        msgspec.Meta(description="Limits per period; at most one per period and measure; none: no limit."),
    ] = msgspec.field(default_factory=list)
    schedule: Annotated[Schedule | None, msgspec.Meta(description="When it buys; omitted: always open.")] = (
        None
    )
    exclusive: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "Whether it buys a lead only when no other campaign buys the same lead. With "
                "shared sales allowed (`max_sales` above 1), an exclusive bid wins only when it "
                "beats the best set of shared ones."
            ),
            examples=[False],
        ),
    ] = False
    weight: Annotated[
        int,
        msgspec.Meta(ge=1, le=1000),
        msgspec.Meta(
            description=(
                "Its share in round-robin rotation: a campaign of weight 2 is offered twice as "
                "many leads as one of weight 1."
            ),
            examples=[1],
        ),
    ] = 1
    priority: Annotated[
        int,
        msgspec.Meta(ge=1, le=100),
        msgspec.Meta(
            description=(
                "For the `priority` strategy: 1 is offered leads first, then 2, and so on; "
                "campaigns on one level take turns."
            ),
            examples=[1],
        ),
    ] = 1
    return_window_hours: Annotated[
        int,
        msgspec.Meta(ge=0, le=24 * 90),
        msgspec.Meta(
            description=(
                "How long after a sale the buyer may return the lead, in hours (0 to 2160, 90 days)."
            ),
            examples=[72],
        ),
    ] = 72


# The body of PATCH /v1/campaigns/{id}: any of CampaignIn's keys, each read as CampaignIn reads it.
CampaignPatch = msgspec.defstruct(
    "CampaignPatch",
    [(f.name, f.type | msgspec.UnsetType, msgspec.UNSET) for f in msgspec.structs.fields(CampaignIn)],
    kw_only=True,
    frozen=True,
    module=__name__,
)


class Campaign(CampaignIn, frozen=True, kw_only=True):
    id: Annotated[
        str, msgspec.Meta(description="The campaign's id.", examples=["cmp_01jp9znbag4m5qwbmbkf01meyr"])
    ]
    created_at: Annotated[
        datetime, msgspec.Meta(description="When it was created (UTC).", examples=["2025-03-14T09:26:53Z"])
    ]
    updated_at: Annotated[
        datetime,
        msgspec.Meta(description="When it was last changed (UTC).", examples=["2025-03-15T16:02:11Z"]),
    ]
    archived_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description=(
                "When it was archived (`DELETE /v1/campaigns/{id}`): it sells no more and cannot "
                "be changed; its sales, caps and ledger history stay. Null while it is not archived."
            ),
            examples=[None],
        ),
    ] = None
    usage: Annotated[
        CampaignUsage | None,
        msgspec.Meta(
            description=(
                "Each cap's current period and what is used of it, and what it bought today, in "
                "the campaign's time zone: in every read (`GET`); absent from the answers that "
                "create or change it."
            ),
        ),
    ] = None


class CapUsage(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One cap's current period: what the campaign has used of it."""

    period: Annotated[Period, msgspec.Meta(description="The cap's period.", examples=["day"])]
    period_key: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The period counting now, in the campaign's time zone: `hour:2026-11-26T14`, "
                "`day:2026-11-26`, `week:2026-W48` or `month:2026-11`."
            ),
            examples=["day:2026-11-26"],
        ),
    ]
    resets_at: Annotated[
        datetime,
        msgspec.Meta(description="When the next period starts (UTC).", examples=["2026-11-27T08:00:00Z"]),
    ]
    used_leads: Annotated[
        int,
        msgspec.Meta(
            description="Leads counted against the cap in this period (sold, or held for a sale now).",
            examples=[42],
        ),
    ]
    used_spend_cents: Annotated[
        int,
        msgspec.Meta(description="Spend counted against the cap in this period, in cents.", examples=[84000]),
    ]
    max_leads: Annotated[
        int | None,
        msgspec.Meta(
            description="The cap's most leads per period; absent when it caps spend only.", examples=[100]
        ),
    ] = None
    max_spend_cents: Annotated[
        int | None,
        msgspec.Meta(
            description="The cap's most spend per period, in cents; absent when it caps leads only.",
            examples=[500000],
        ),
    ] = None


class CampaignUsage(msgspec.Struct, frozen=True, kw_only=True):
    """What a campaign has used of its caps, and bought today."""

    timezone: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The time zone its periods and `today` are counted in: the schedule's, else the buyer's."
            ),
            examples=["America/Los_Angeles"],
        ),
    ]
    caps: Annotated[
        list[CapUsage],
        msgspec.Meta(description="Each cap's current period, in the order the caps are listed."),
    ]
    leads_today: Annotated[
        int,
        msgspec.Meta(
            description="Leads sold to it since local midnight (returns not taken off).", examples=[12]
        ),
    ]
    spend_today_cents: Annotated[
        int,
        msgspec.Meta(
            description="What those leads cost, in cents (returns not taken off).", examples=[24000]
        ),
    ]


def check_delivery(
    delivery: dict[str, Any], pricing: Pricing, adapters: AdapterRegistry, *, allow_private: bool
) -> None:
    """Refuse, at save time, a delivery that could only fail at delivery time (CONTRACT.md):
    its adapter reads its settings; the pings and answer rules are checked here, the same for
    every adapter."""
    # Imported here: buyers.responses reads this module's ResponseRule.
    from buyers.responses import check_response_rule
    from exchange.errors import field_invalid

    adapter = adapters.adapter_of(delivery)
    if isinstance(pricing, BidPricing):
        if not adapter.can_ping:
            raise field_invalid(
                "delivery.adapter",
                "cannot_ping",
                f"the {adapter.name} adapter cannot carry pings; bid pricing needs one the buyer "
                "answers (http), or use fixed pricing",
            )
        if "ping" not in delivery:
            raise field_invalid("delivery.ping", "required", "bid pricing needs a ping that answers a price")
    elif "ping" in delivery:
        raise field_invalid("delivery.ping", "invalid_value", "a ping is sent only for bid pricing")
    adapter.configure(delivery, allow_private=allow_private, field="delivery")
    for where, step in (("delivery.ping", delivery.get("ping")), ("delivery.post", delivery.get("post"))):
        if not isinstance(step, dict):
            continue
        raw = step.get("response")
        if raw is None:
            if where == "delivery.ping":
                raise field_invalid(f"{where}.response.price", "required", "a ping's rule must read the bid")
            continue
        try:
            rule = msgspec.convert(raw, ResponseRule)
        except msgspec.ValidationError as exc:
            raise field_invalid(f"{where}.response", "invalid", str(exc)) from None
        if where == "delivery.ping" and rule.price is None:
            raise field_invalid(f"{where}.response.price", "required", "a ping's rule must read the bid")
        check_response_rule(rule, f"{where}.response")
