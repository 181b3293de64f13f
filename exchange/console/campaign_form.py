"""The campaign form's fields: read into the API's campaign keys, and filled from a campaign.

The form names its fields after the API's (`caps[0].max_leads`, `pricing.cents_by_grade.A`,
`schedule.hours.mon`), so a 422 from the API's checks lands beside the field it names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from buyers.campaigns import Campaign
from buyers.schedule import DAYS
from exchange.console.delivery_form import delivery_of, delivery_values
from exchange.console.fields import shown_values
from exchange.console.fields import text as _text
from exchange.console.fields import whole as _int

GRADES = ("A", "B", "C", "D")
PERIODS = ("hour", "day", "week", "month")
OPS = ("eq", "ne", "in", "not_in", "between", "gte", "lte", "prefix", "exists")
# Blank rows offered below a campaign's own caps and filters, to add one.
SPARE_ROWS = 2


def _rows(form: Mapping[str, Any], prefix: str) -> list[int]:
    """The row numbers the form sent for `prefix[N].…`, in order."""
    found = set()
    for key in form:
        if key.startswith(f"{prefix}[") and "]" in key:
            number = key[len(prefix) + 1 : key.index("]")]
            if number.isdigit():
                found.add(int(number))
    return sorted(found)


def _filter_value(op: str, text: str) -> Any:
    """A JSON value as typed, else a comma-separated list for the list ops, else the text."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if op in ("in", "not_in", "prefix", "between"):
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def changes_of(form: Mapping[str, Any]) -> dict[str, Any]:
    """The common settings the form carries, as the keys of a campaign (a PATCH body)."""
    caps = []
    for n in _rows(form, "caps"):
        period = _text(form, f"caps[{n}].period")
        leads, spend = _int(form, f"caps[{n}].max_leads"), _int(form, f"caps[{n}].max_spend_cents")
        if leads is None and spend is None:
            continue  # an empty row
        cap: dict[str, Any] = {"period": period or "day"}
        cap |= {"max_leads": leads} if leads is not None else {}
        cap |= {"max_spend_cents": spend} if spend is not None else {}
        caps.append(cap)
    filters = []
    for n in _rows(form, "filters"):
        field = _text(form, f"filters[{n}].field")
        if not field:
            continue
        op = _text(form, f"filters[{n}].op") or "eq"
        filters.append(
            {"field": field, "op": op, "value": _filter_value(op, _text(form, f"filters[{n}].value"))}
        )
    zone = _text(form, "schedule.timezone")
    schedule = None
    if zone:
        hours = {}
        for day in DAYS:
            text = _text(form, f"schedule.hours.{day}")
            if text:
                hours[day] = [part.strip() for part in text.split(",") if part.strip()]
        schedule = {"timezone": zone, "hours": hours}
    if _text(form, "pricing.model") == "bid":
        pricing: dict[str, Any] = {"model": "bid", "floor_cents": _int(form, "pricing.floor_cents") or 0}
    else:
        prices = {g: _int(form, f"pricing.cents_by_grade.{g}") for g in GRADES}
        pricing = {"model": "fixed", "cents_by_grade": {g: c for g, c in prices.items() if c is not None}}
    return {
        "name": _text(form, "name") or None,
        "caps": caps,
        "filters": filters,
        "schedule": schedule,
        "pricing": pricing,
    }


def new_campaign_of(form: Mapping[str, Any], buyer_id: str) -> dict[str, Any]:
    """A whole campaign from the create form: the common settings, its vertical and delivery."""
    return {
        **changes_of(form),
        "buyer_id": buyer_id,
        "vertical": _text(form, "vertical"),
        "delivery": delivery_of(form) or {},
        "active": _text(form, "active") != "no",
    }


def values_of(campaign: Campaign | None, form: Mapping[str, Any] | None = None) -> dict[str, str]:
    """What each field shows: as sent when the form comes back with errors, else the campaign's."""
    if form is not None:
        return shown_values(form)
    if campaign is None:
        return {"pricing.model": "fixed", "caps[0].period": "day", "delivery.kind": "http"}
    values: dict[str, str] = {"name": campaign.name or "", "pricing.model": "fixed"}
    values |= delivery_values(campaign.delivery)
    for n, cap in enumerate(campaign.caps):
        values[f"caps[{n}].period"] = cap.period
        values[f"caps[{n}].max_leads"] = "" if cap.max_leads is None else str(cap.max_leads)
        values[f"caps[{n}].max_spend_cents"] = "" if cap.max_spend_cents is None else str(cap.max_spend_cents)
    for n, rule in enumerate(campaign.filters):
        values[f"filters[{n}].field"] = rule.field
        values[f"filters[{n}].op"] = rule.op
        values[f"filters[{n}].value"] = json.dumps(msgspec.to_builtins(rule.value))
    if campaign.schedule is not None:
        values["schedule.timezone"] = campaign.schedule.timezone
        for day, windows in campaign.schedule.hours.items():
            values[f"schedule.hours.{day}"] = ", ".join(windows)
    pricing = msgspec.to_builtins(campaign.pricing)
    values["pricing.model"] = pricing.get("model", "fixed")
    for grade, cents in (pricing.get("cents_by_grade") or {}).items():
        values[f"pricing.cents_by_grade.{grade}"] = str(cents)
    if "floor_cents" in pricing:
        values["pricing.floor_cents"] = str(pricing["floor_cents"])
    return values


def row_count(values: Mapping[str, str], prefix: str) -> int:
    """How many rows of caps or filters to show: the ones filled and a few spare."""
    used = _rows(values, prefix)
    return (max(used) + 1 if used else 0) + SPARE_ROWS
