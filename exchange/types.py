"""Canonical types: the one lead every format becomes, its consent, its answer, its events.

msgspec Structs describe each payload once: they decode, validate, encode and document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

# The most any one amount may be: ten billion dollars in cents. Sums of many such amounts
# stay far inside the ledger's 64-bit integers.
MAX_CENTS = 10**12
Cents = Annotated[int, msgspec.Meta(ge=0, le=MAX_CENTS)]

Grade = Literal["A", "B", "C", "D"]
# A dict keyed by grade, as the spec shows it. Where one is read, a check names the grade at
# fault (a decoding error would name no dict key), so its keys and amounts are documented here
# (`documented`), not decoded.
GRADE_KEYS = msgspec.Meta(extra_json_schema={"propertyNames": {"enum": ["A", "B", "C", "D"]}})


def documented(**schema: Any) -> msgspec.Meta:
    """JSON Schema keywords the spec shows for a value that a check, not decoding, enforces."""
    return msgspec.Meta(extra_json_schema=schema)


LeadStatus = Literal["accepted", "sold", "unsold", "duplicate", "rejected"]
# A stored lead's status: an answer's, or `returned` once every sale of it was returned.
LeadState = Literal["accepted", "sold", "unsold", "duplicate", "rejected", "returned"]
Role = Literal["operator", "finance", "publisher", "buyer"]

# Canonical contact and source fields every vertical shares (CONTRACT.md, "Leads").
CANONICAL_FIELDS: tuple[str, ...] = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "city",
    "state",
    "zip",
    "ip_address",
    "user_agent",
    "landing_page_url",
    "sub_id",
    "external_id",
)
CONSENT_FIELDS: tuple[str, ...] = ("text", "timestamp", "trustedform_cert_url", "jornaya_leadid")

# Fields that identify a person: never in a ping, a marketplace listing or a log line.
PERSONAL_FIELDS: frozenset[str] = frozenset(
    {"first_name", "last_name", "email", "phone", "address", "ip_address"}
)


class FieldError(msgspec.Struct, frozen=True, kw_only=True):
    """One problem with one field: which field, a machine code, a human reason."""

    field: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The field at fault, as a dotted path into the request (`delivery.post.url`, "
                "`filters.0.value`), or `body` for the body as a whole."
            ),
            examples=["phone"],
        ),
    ]
    code: Annotated[
        str,
        msgspec.Meta(
            description=(
                "A machine code for the problem: `required`, `invalid_value`, `out_of_range`, "
                "`unknown_field`, `invalid_email`…"
            ),
            examples=["invalid_value"],
        ),
    ]
    message: Annotated[
        str,
        msgspec.Meta(
            description="The reason, for a person to read.", examples=["not a valid US phone number"]
        ),
    ]


class Consent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    text: str | None = None
    timestamp: datetime | None = None
    trustedform_cert_url: str | None = None
    jornaya_leadid: str | None = None


class Lead(msgspec.Struct, frozen=True, kw_only=True):
    """A lead after normalisation and validation: canonical plus vertical fields."""

    vertical: str
    fields: dict[str, Any]
    consent: Consent | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class LeadAnswer(msgspec.Struct, kw_only=True):
    """What a publisher is told about the lead it posted."""

    lead_id: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The id the exchange gave the lead; null when nothing was stored (a rejected or "
                "duplicate lead is still stored and has one)."
            ),
            examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"],
        ),
    ]
    status: Annotated[
        LeadStatus,
        msgspec.Meta(
            description=(
                "`sold` (201, sold in sync mode), `unsold` (201, valid but no buyer took it; it "
                "may be sold later), `accepted` (202, async mode: stored, distribution queued), "
                "`duplicate` (409, the same phone or e-mail within the vertical's duplicate "
                "window) or `rejected` (422, see `errors`)."
            ),
            examples=["sold"],
        ),
    ]
    grade: Annotated[
        Grade | None,
        msgspec.Meta(
            description=("The lead's quality grade, A (best) to D; null when it was not graded (rejected)."),
            examples=["A"],
        ),
    ] = None
    payout_cents: Annotated[
        int,
        msgspec.Meta(
            description="What the publisher earns for this lead, in cents: 0 unless it was sold.",
            examples=[1750],
        ),
    ] = 0
    errors: Annotated[
        list[FieldError],
        msgspec.Meta(
            description="Each problem that rejected the lead, by field; empty when it was not rejected.",
            examples=[[]],
        ),
    ] = msgspec.field(default_factory=list)


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every error answer other than a lead's."""

    code: Annotated[
        str,
        msgspec.Meta(
            description=(
                "A machine code for the error: `not_found`, `already_sold`, "
                "`insufficient_funds`, `invalid`, `rate_limited`…"
            ),
            examples=["invalid"],
        ),
    ]
    message: Annotated[
        str,
        msgspec.Meta(
            description="What went wrong, for a person to read.",
            examples=["delivery.post.url: an http delivery needs an http(s) URL"],
        ),
    ]
    errors: Annotated[
        list[FieldError], msgspec.Meta(description="Each field at fault and why; may be empty.")
    ] = msgspec.field(default_factory=list)


class Page(msgspec.Struct, kw_only=True):
    items: list[Any]
    next_cursor: Annotated[
        str | None,
        msgspec.Meta(
            description="Pass it as `cursor` to read the next page; null on the last page.",
            examples=["01jp9zn4frpfzrv0peeg471ejb"],
        ),
    ] = None
