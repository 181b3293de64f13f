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
LeadStatus = Literal["accepted", "sold", "unsold", "duplicate", "rejected"]
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

    field: str
    code: str
    message: str


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

    lead_id: str | None
    status: LeadStatus
    grade: Grade | None = None
    payout_cents: int = 0
    errors: list[FieldError] = msgspec.field(default_factory=list)


class ErrorBody(msgspec.Struct, kw_only=True):
    """Every error answer other than a lead's."""

    code: str
    message: str
    errors: list[FieldError] = msgspec.field(default_factory=list)


class Page(msgspec.Struct, kw_only=True):
    items: list[Any]
    next_cursor: str | None = None
