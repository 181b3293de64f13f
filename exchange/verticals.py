"""Verticals: the field schema of each kind of lead and its distribution settings.

The built-in verticals below are seeded into the database on start; operators add
their own over the API. A vertical's `fields` lists canonical fields it requires
as well as its own fields, so one list tells a publisher everything it must send.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

import msgspec

from exchange.errors import field_invalid
from exchange.types import CANONICAL_FIELDS, GRADE_KEYS, MAX_CENTS, documented

FieldType = Literal["str", "int", "bool", "date", "enum"]
Strategy = Literal["auction", "round_robin", "priority"]
GRADES = ("A", "B", "C", "D")


KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,47}$")
FIELD_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class FieldSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One field of a vertical; `required` is always shown (clients read it on every field)."""

    name: Annotated[
        str,
        msgspec.Meta(pattern=FIELD_PATTERN.pattern),
        msgspec.Meta(
            description=(
                "The field's name in leads: lower case letters, digits and `_`, starting with a letter."
            ),
            examples=["vehicle_year"],
        ),
    ]
    type: Annotated[
        FieldType,
        msgspec.Meta(
            description=(
                "What its values are: `str`, `int`, `bool`, `date` (YYYY-MM-DD) or `enum` (one of `values`)."
            ),
            examples=["int"],
        ),
    ]
    required: Annotated[
        bool,
        msgspec.Meta(
            description="Whether a lead of the vertical without this field is rejected.", examples=[True]
        ),
    ] = False
    values: Annotated[
        list[str] | None,
        msgspec.Meta(
            description=(
                "The allowed values of an `enum` field (matched regardless of case and "
                "spacing); null for any other type."
            ),
            examples=[["own", "rent"]],
        ),
    ] = None


class AgedPrice(msgspec.Struct, frozen=True, kw_only=True):
    after_hours: Annotated[
        int,
        msgspec.Meta(ge=0),
        msgspec.Meta(
            description=(
                "From this age of an unsold lead, in hours since it was received, this step's "
                "percentage applies."
            ),
            examples=[24],
        ),
    ]
    percent: Annotated[
        int,
        msgspec.Meta(ge=0, le=100),
        msgspec.Meta(
            description=(
                "The listed price as a percentage of the grade's floor (0 to 100), rounded down "
                "to whole cents."
            ),
            examples=[60],
        ),
    ]


class Distribution(msgspec.Struct, frozen=True, kw_only=True):
    strategy: Annotated[
        Strategy,
        msgspec.Meta(
            description=(
                "How a lead is offered to campaigns: `auction` (bid and fixed prices ranked, "
                "best first), `round_robin` (weighted rotation) or `priority` (by the "
                "campaigns' priority level, rotating within one)."
            ),
            examples=["auction"],
        ),
    ] = "auction"
    ping_timeout_ms: Annotated[
        int,
        msgspec.Meta(ge=50, le=30_000),
        msgspec.Meta(
            description=(
                "How long an auction waits for bids, in milliseconds (50 to 30000); a bid that "
                "comes later is left out."
            ),
            examples=[500],
        ),
    ] = 500
    max_sales: Annotated[
        int,
        msgspec.Meta(ge=1, le=20),
        msgspec.Meta(
            description="How many buyers one lead may be sold to (1: exclusive sales only; up to 20).",
            examples=[1],
        ),
    ] = 1
    duplicate_window_days: Annotated[
        int,
        msgspec.Meta(ge=0, le=3650),
        msgspec.Meta(
            description=(
                "A lead with the phone or e-mail of one received in the vertical within this "
                "many days is a duplicate (409); 0 turns the check off."
            ),
            examples=[30],
        ),
    ] = 30
    floor_cents_by_grade: Annotated[
        # check_distribution names a bad grade or amount: documented, not decoded (exchange/types.py)
        dict[str, Annotated[int, documented(minimum=0, maximum=MAX_CENTS)]],
        GRADE_KEYS,
        msgspec.Meta(
            description=(
                "The least price per grade, in cents: bids below it are refused, and the "
                "marketplace lists unsold leads at it; a grade not named has no floor and is "
                "not listed."
            ),
            examples=[{"A": 1000, "B": 700, "C": 400}],
        ),
    ] = msgspec.field(default_factory=dict)
    require_consent: Annotated[
        bool,
        msgspec.Meta(
            description=(
                "Whether every lead must carry consent (its text and time); a lead without it is rejected."
            ),
            examples=[False],
        ),
    ] = False
    aged_pricing: Annotated[
        list[AgedPrice],
        msgspec.Meta(
            description=(
                "Steps by which an unsold lead's marketplace price falls with its age; the last "
                "step reached applies. Empty: the floor, at any age."
            ),
            examples=[[{"after_hours": 24, "percent": 60}, {"after_hours": 72, "percent": 30}]],
        ),
    ] = msgspec.field(default_factory=list)
    resell_unsold_after_minutes: Annotated[
        Annotated[int, msgspec.Meta(ge=1)] | None,
        msgspec.Meta(
            description=(
                "Offer unsold leads to the campaigns again this many minutes on (when a "
                "schedule has opened or a cap has reset); null: never."
            ),
            examples=[60],
        ),
    ] = None


class Vertical(msgspec.Struct, frozen=True, kw_only=True):
    key: Annotated[
        str,
        msgspec.Meta(
            description="The vertical's key: how leads, campaigns and URLs name it.",
            examples=["auto_insurance"],
        ),
    ]
    fields: Annotated[
        list[FieldSpec],
        msgspec.Meta(description="Its own fields, beyond the canonical ones every lead shares."),
    ]
    distribution: Annotated[Distribution, msgspec.Meta(description="How its leads are sold.")] = (
        msgspec.field(default_factory=Distribution)
    )

    def spec(self, name: str) -> FieldSpec | None:
        for field in self.fields:
            if field.name == name:
                return field
        return None


class VerticalIn(msgspec.Struct, frozen=True, kw_only=True):
    """An operator's own vertical, as posted to `POST /v1/verticals`."""

    key: Annotated[
        str,
        msgspec.Meta(pattern=KEY_PATTERN.pattern),
        msgspec.Meta(
            description=(
                "The new vertical's key: lower case letters, digits and `_`, starting with a "
                "letter; not one already taken."
            ),
            examples=["pet_insurance"],
        ),
    ]
    fields: Annotated[
        list[FieldSpec],
        msgspec.Meta(
            description=(
                "Its own fields, beyond the canonical ones every lead shares; names are not repeated."
            ),
            examples=[
                [
                    {"name": "pet_type", "type": "enum", "required": True, "values": ["dog", "cat"]},
                    {"name": "pet_age", "type": "int", "required": False},
                ]
            ],
        ),
    ]
    distribution: Annotated[
        Distribution, msgspec.Meta(description="How its leads are sold; omitted: the defaults shown.")
    ] = msgspec.field(default_factory=Distribution)


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
