"""A campaign: a buyer's standing order for leads of one vertical (CONTRACT.md, "Campaigns").

These Structs are the one description of a campaign: they decode the API body,
validate its shape, and are what distribution reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from adapters.outbound.registry import AdapterRegistry
from exchange.types import MAX_CENTS

FilterOp = Literal["eq", "ne", "in", "not_in", "between", "gte", "lte", "prefix", "exists"]
Period = Literal["hour", "day", "week", "month"]
NonNegative = Annotated[int, msgspec.Meta(ge=0, le=MAX_CENTS)]
Positive = Annotated[int, msgspec.Meta(ge=1)]


class Filter(msgspec.Struct, frozen=True, kw_only=True):
    field: str
    op: FilterOp
    value: Any = None


class Cap(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    period: Period
    max_leads: NonNegative | None = None
    max_spend_cents: NonNegative | None = None


class Schedule(msgspec.Struct, frozen=True, kw_only=True):
    timezone: str
    # Day keys mon..sun, each a list of "HH:MM-HH:MM" windows; a day not named is closed.
    hours: dict[str, list[str]]


class FixedPricing(msgspec.Struct, frozen=True, kw_only=True, tag_field="model", tag="fixed"):
    cents_by_grade: dict[str, NonNegative]


class BidPricing(msgspec.Struct, frozen=True, kw_only=True, tag_field="model", tag="bid"):
    floor_cents: NonNegative = 0


Pricing = FixedPricing | BidPricing


class Accepted(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How to tell an accepting answer: a JSON path / XPath, or a regular expression."""

    path: str | None = None
    regex: str | None = None
    equals: Any = None


class ResponseRule(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How to read a buyer's answer: JSON dotted paths, XPath, or regular expressions."""

    format: Literal["json", "xml", "text"]
    accepted: Accepted
    price: str | None = None  # in currency units (12.50) in the answer; read into cents
    reason: str | None = None
    reference: str | None = None


class CampaignIn(msgspec.Struct, frozen=True, kw_only=True):
    """The body of POST /v1/campaigns; PATCH takes any subset of these keys."""

    buyer_id: str
    vertical: str
    pricing: Pricing
    delivery: dict[str, Any]
    name: str | None = None
    active: bool = True
    filters: list[Filter] = msgspec.field(default_factory=list)
    caps: list[Cap] = msgspec.field(default_factory=list)
    schedule: Schedule | None = None
    exclusive: bool = False
    weight: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 1
    priority: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    return_window_hours: Annotated[int, msgspec.Meta(ge=0, le=24 * 90)] = 72


class Campaign(CampaignIn, frozen=True, kw_only=True):
    id: str
    created_at: datetime
    updated_at: datetime


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
