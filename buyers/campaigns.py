"""A campaign: a buyer's standing order for leads of one vertical (CONTRACT.md, "Campaigns").

These Structs are the one description of a campaign: they decode the API body,
validate its shape, and are what distribution reads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

FilterOp = Literal["eq", "ne", "in", "not_in", "between", "gte", "lte", "prefix", "exists"]
Period = Literal["hour", "day", "week", "month"]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
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


class HttpStep(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One HTTP call to a buyer: a ping (anonymised offer) or a post (the whole lead)."""

    url: str
    format: Literal["json", "form", "xml"] = "json"
    method: Literal["POST", "PUT", "GET"] = "POST"
    timeout_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] = 5000
    # Buyer's field name → a canonical field name, or "=literal".
    mapping: dict[str, str] | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    response: ResponseRule | None = None


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


def check_delivery(delivery: dict[str, Any], pricing: Pricing, *, allow_private: bool) -> None:
    """Refuse, at save time, a delivery that could only fail at delivery time (CONTRACT.md)."""
    # Imported here: buyers.responses reads this module's ResponseRule.
    from adapters.netguard import check_destination
    from adapters.outbound.bodies import check_mapping
    from buyers.responses import check_response_rule
    from exchange.errors import field_invalid

    adapter = delivery.get("adapter")
    if adapter != "http":
        raise field_invalid(
            "delivery.adapter", "unknown_adapter", f"{adapter!r} is not a delivery adapter here"
        )
    unknown = set(delivery) - {"adapter", "ping", "post"}
    if unknown:
        raise field_invalid(
            f"delivery.{sorted(unknown)[0]}", "unknown_field", "not a key of an http delivery"
        )
    if "post" not in delivery:
        raise field_invalid("delivery.post", "required", "an http delivery posts the lead somewhere")
    if isinstance(pricing, BidPricing) and "ping" not in delivery:
        raise field_invalid("delivery.ping", "required", "bid pricing needs a ping that answers a price")
    if isinstance(pricing, FixedPricing) and "ping" in delivery:
        raise field_invalid("delivery.ping", "invalid_value", "a ping is sent only for bid pricing")
    for kind in ("ping", "post"):
        if kind not in delivery:
            continue
        where = f"delivery.{kind}"
        try:
            step = msgspec.convert(delivery[kind], HttpStep)
        except msgspec.ValidationError as exc:
            raise field_invalid(where, "invalid", str(exc)) from None
        if not step.url.lower().startswith(("http://", "https://")):
            raise field_invalid(f"{where}.url", "invalid_url", "an http delivery needs an http(s) URL")
        check_destination(step.url, allow_private=allow_private, field=f"{where}.url")
        if step.mapping is not None:
            check_mapping(
                step.mapping, personal_allowed=kind == "post", field=f"{where}.mapping", format=step.format
            )
        if kind == "ping" and (step.response is None or step.response.price is None):
            raise field_invalid(f"{where}.response.price", "required", "a ping's rule must read the bid")
        if step.response is not None:
            check_response_rule(step.response, f"{where}.response")
