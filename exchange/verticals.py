"""Verticals: the field schema of each kind of lead and its distribution settings.

The built-in verticals below are seeded into the database on start; operators add
their own over the API. A vertical's `fields` lists canonical fields it requires
as well as its own fields, so one list tells a publisher everything it must send.
"""

from __future__ import annotations

import re
from typing import Literal

import msgspec

from exchange.errors import field_invalid
from exchange.types import CANONICAL_FIELDS, MAX_CENTS

FieldType = Literal["str", "int", "bool", "date", "enum"]
Strategy = Literal["auction", "round_robin", "priority"]
GRADES = ("A", "B", "C", "D")


class FieldSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One field of a vertical; `required` is always shown (clients read it on every field)."""

    name: str
    type: FieldType
    required: bool = False
    values: list[str] | None = None


class AgedPrice(msgspec.Struct, frozen=True, kw_only=True):
    after_hours: int
    percent: int


class Distribution(msgspec.Struct, frozen=True, kw_only=True):
    strategy: Strategy = "auction"
    ping_timeout_ms: int = 500
    max_sales: int = 1
    duplicate_window_days: int = 30
    floor_cents_by_grade: dict[str, int] = msgspec.field(default_factory=dict)
    require_consent: bool = False
    aged_pricing: list[AgedPrice] = msgspec.field(default_factory=list)
    resell_unsold_after_minutes: int | None = None


class Vertical(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    fields: list[FieldSpec]
    distribution: Distribution = msgspec.field(default_factory=Distribution)

    def spec(self, name: str) -> FieldSpec | None:
        for field in self.fields:
            if field.name == name:
                return field
        return None


class VerticalIn(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's own vertical, as posted to `POST /v1/verticals`."""

    key: str
    fields: list[FieldSpec]
    distribution: Distribution = msgspec.field(default_factory=Distribution)


KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
FIELD_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


def check_distribution(d: Distribution) -> None:
    if not 50 <= d.ping_timeout_ms <= 30_000:
        raise field_invalid("ping_timeout_ms", "out_of_range", "must be between 50 and 30000")
    if not 1 <= d.max_sales <= 20:
        raise field_invalid("max_sales", "out_of_range", "must be between 1 and 20")
    if not 0 <= d.duplicate_window_days <= 3650:
        raise field_invalid("duplicate_window_days", "out_of_range", "must be between 0 and 3650")
    for grade, cents in d.floor_cents_by_grade.items():
        if grade not in GRADES:
            raise field_invalid(f"floor_cents_by_grade.{grade}", "invalid_value", "grade must be A-D")
        if not 0 <= cents <= MAX_CENTS:
            raise field_invalid(f"floor_cents_by_grade.{grade}", "out_of_range", f"must be 0 to {MAX_CENTS}")
    for i, step in enumerate(d.aged_pricing):
        if step.after_hours < 0 or not 0 <= step.percent <= 100:
            raise field_invalid(f"aged_pricing.{i}", "out_of_range", "after_hours >= 0 and percent in 0..100")
    if d.resell_unsold_after_minutes is not None and d.resell_unsold_after_minutes < 1:
        raise field_invalid("resell_unsold_after_minutes", "out_of_range", "must be >= 1")


def check_vertical(v: VerticalIn) -> None:
    """Refuse a vertical whose key or field list cannot be used, naming the problem."""
    if not KEY_PATTERN.match(v.key):
        raise field_invalid("key", "invalid_value", "lowercase letters, digits and _, 2-48 long")
    seen: set[str] = set()
    for i, f in enumerate(v.fields):
        where = f"fields.{i}"
        if not FIELD_PATTERN.match(f.name) or f.name in ("consent", "grade"):
            raise field_invalid(f"{where}.name", "invalid_value", f"{f.name!r} is not a usable name")
        if f.name in seen:
            raise field_invalid(f"{where}.name", "duplicate", f"{f.name!r} is listed twice")
        seen.add(f.name)
        if f.type == "enum" and not f.values:
            raise field_invalid(f"{where}.values", "required", "an enum needs its values")
        if f.type != "enum" and f.values:
            raise field_invalid(f"{where}.values", "invalid_value", "only an enum has values")
        if f.name in CANONICAL_FIELDS and f.type != "str":
            raise field_invalid(f"{where}.type", "invalid_value", f"{f.name} is a str field")


def _f(name: str, type_: FieldType, required: bool = False, values: list[str] | None = None) -> FieldSpec:
    return FieldSpec(name=name, type=type_, required=required, values=values)


_CONTACT = [
    _f("first_name", "str", True),
    _f("last_name", "str", True),
    _f("email", "str", True),
    _f("phone", "str", True),
    _f("address", "str"),
    _f("city", "str"),
    _f("state", "str"),
    _f("zip", "str", True),
]
_CREDIT = ["excellent", "good", "fair", "poor"]
_PROPERTY = ["single_family", "condo", "townhouse", "multi_family", "mobile_home"]

BUILTIN_VERTICALS: tuple[Vertical, ...] = (
    Vertical(
        key="auto_insurance",
        fields=[
            *_CONTACT,
            _f("date_of_birth", "date", True),
            _f("gender", "enum", False, ["male", "female", "non_binary"]),
            _f("marital_status", "enum", False, ["single", "married", "divorced", "widowed"]),
            _f("homeowner", "bool"),
            _f("currently_insured", "bool", True),
            _f("current_carrier", "str"),
            _f("insured_months", "int"),
            _f("vehicle_year", "int", True),
            _f("vehicle_make", "str", True),
            _f("vehicle_model", "str", True),
            _f("vehicle_count", "int"),
            _f("driver_count", "int"),
            _f("accidents_last_3_years", "int"),
            _f("dui", "bool"),
            _f("credit_rating", "enum", False, _CREDIT),
            _f("coverage_type", "enum", False, ["state_minimum", "standard", "premium"]),
        ],
    ),
    Vertical(
        key="mortgage",
        fields=[
            *_CONTACT,
            _f(
                "loan_purpose",
                "enum",
                True,
                ["purchase", "refinance", "cash_out_refinance", "home_equity"],
            ),
            _f("property_type", "enum", True, _PROPERTY),
            _f("occupancy", "enum", False, ["primary", "secondary", "investment"]),
            _f("property_value_cents", "int", True),
            _f("loan_amount_cents", "int", True),
            _f("credit_rating", "enum", True, _CREDIT),
            _f(
                "employment_status",
                "enum",
                False,
                ["employed", "self_employed", "retired", "unemployed"],
            ),
            _f("va_eligible", "bool"),
            _f("bankruptcy", "bool"),
        ],
    ),
    Vertical(
        key="solar",
        fields=[
            *_CONTACT,
            _f("homeowner", "bool", True),
            _f("monthly_electric_bill_cents", "int", True),
            _f("electric_utility", "str"),
            _f("roof_shade", "enum", False, ["no_shade", "partial", "full"]),
            _f("roof_age_years", "int"),
            _f("property_type", "enum", False, _PROPERTY),
            _f("credit_rating", "enum", False, _CREDIT),
        ],
    ),
    Vertical(
        key="home_services",
        fields=[
            *_CONTACT,
            _f(
                "service",
                "enum",
                True,
                [
                    "roofing",
                    "hvac",
                    "plumbing",
                    "electrical",
                    "windows",
                    "siding",
                    "remodeling",
                    "pest_control",
                    "landscaping",
                    "flooring",
                    "solar",
                ],
            ),
            _f(
                "project_timeframe",
                "enum",
                True,
                ["immediately", "within_1_month", "1_3_months", "3_6_months", "flexible"],
            ),
            _f("homeowner", "bool", True),
            _f("property_type", "enum", False, _PROPERTY),
            _f("project_description", "str"),
        ],
    ),
    Vertical(
        key="auto_sales",
        fields=[
            _f("first_name", "str", True),
            _f("last_name", "str"),
            _f("email", "str"),
            _f("phone", "str"),
            _f("address", "str"),
            _f("city", "str"),
            _f("state", "str"),
            _f("zip", "str"),
            _f("request_date", "date"),
            _f("interest", "enum", False, ["buy", "lease", "sell", "trade-in", "test-drive"]),
            _f("vehicle_status", "enum", False, ["new", "used"]),
            _f("vehicle_year", "int"),
            _f("vehicle_make", "str"),
            _f("vehicle_model", "str"),
            _f("vehicle_trim", "str"),
            _f("vehicle_vin", "str"),
            _f("vehicle_price_cents", "int"),
            _f("trade_in_year", "int"),
            _f("trade_in_make", "str"),
            _f("trade_in_model", "str"),
            _f("trade_in_mileage", "int"),
            _f("timeframe", "str"),
            _f("comments", "str"),
            _f("vendor_name", "str"),
            _f("provider_name", "str"),
        ],
    ),
)
