"""Validate: check a raw lead against its vertical and build the canonical Lead.

Every problem is collected, not only the first, and the facts the grader needs travel
beside the lead as LeadSignals. Pure: no I/O, the clock is passed in as `now`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

import msgspec
import phonenumbers
import zipcodes
from disposable_email_domains import blocklist as _disposable_blocklist
from email_validator import EmailNotValidError, validate_email

from exchange.pipeline.normalize import (
    MAX_TEXT,
    NAME_FIELDS,
    STATE_NAMES_BY_CODE,
    Unfit,
    clean_name,
    clean_text,
    describe,
    enum_key,
    state_code,
    to_bool,
    to_date,
    to_enum,
    to_int,
    to_text,
    to_zip_text,
)
from exchange.types import CANONICAL_FIELDS, Consent, FieldError, Lead
from exchange.verticals import FieldSpec, Vertical

# `line_or_mobile`: the numbering plan does not say which (every US and Canadian number).
PhoneType = Literal["mobile", "landline", "line_or_mobile", "voip", "unknown"]


class LeadSignals(msgspec.Struct, frozen=True, kw_only=True):
    """Facts found while validating that the grader weighs; not stored on the lead.

    `has_consent_text` means consent text *with* a valid timestamp; `completeness` is the
    share of the vertical's optional fields present and valid.
    """

    phone_type: PhoneType | None = None
    is_disposable_email: bool = False
    email_domain: str | None = None
    has_trustedform: bool = False
    has_jornaya: bool = False
    has_consent_text: bool = False
    is_private_ip: bool = False
    completeness: float = 0.0
    state_from_zip: bool = False


class Checked(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of validation: the lead (None when there are errors), every error, signals."""

    lead: Lead | None
    errors: list[FieldError]
    signals: LeadSignals


MAX_LONG_TEXT = 2000
LONG_TEXT_FIELDS = frozenset({"comments", "project_description", "user_agent", "landing_page_url"})
# Publishers' clocks run a little fast; minutes ahead is skew, more than that is not a real consent.
CLOCK_SKEW = timedelta(minutes=5)
MIN_AGE, MAX_AGE = 16, 120
FIRST_YEAR = 1900

_TRUSTEDFORM = re.compile(r"https://cert\.trustedform\.com/[0-9a-fA-F]{40}")
_JORNAYA = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)
_DISPOSABLE: frozenset[str] = frozenset(_disposable_blocklist)
_PHONE_TYPES: dict[int, PhoneType] = {
    phonenumbers.PhoneNumberType.MOBILE: "mobile",
    phonenumbers.PhoneNumberType.FIXED_LINE: "landline",
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: "line_or_mobile",
    phonenumbers.PhoneNumberType.VOIP: "voip",
}


class _Context:
    """What one call's checks learn on the way (signals, the zip's state) and its clock."""

    __slots__ = (
        "email_domain",
        "is_disposable",
        "is_private_ip",
        "max_year",
        "phone_type",
        "today",
        "zip_state",
    )

    def __init__(self, today: date) -> None:
        self.today = today
        self.max_year = today.year + 2
        self.phone_type: PhoneType | None = None
        self.email_domain: str | None = None
        self.is_disposable = False
        self.is_private_ip = False
        self.zip_state: str | None = None


# Checks by field name: a typed value to its stored form, noting signals on the way.


def _check_phone(text: str, ctx: _Context) -> str:
    number = _nanp_number(text)
    if number is None:
        try:
            number = phonenumbers.parse(text, "US")
        except phonenumbers.NumberParseException:
            raise Unfit("invalid_phone", "is not a phone number") from None
    # number_type is UNKNOWN exactly when is_valid_number is False (both classify the
    # number by its region's metadata), so one call gives validity and type at half the cost.
    kind = phonenumbers.number_type(number)
    if kind == phonenumbers.PhoneNumberType.UNKNOWN:
        raise Unfit("invalid_phone", "is not a valid phone number")
    ctx.phone_type = _PHONE_TYPES.get(kind, "unknown")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_PHONE_PUNCTUATION = str.maketrans("", "", " ()-.")


def _nanp_number(text: str) -> phonenumbers.PhoneNumber | None:
    """The common shapes of a US number ((415) 253-2671, +1 415.253.2671…) without parse.

    phonenumbers.parse is a third of a lead's checking time; for these shapes its answer is
    known (country code 1, the ten digits), as a test checks. Anything else goes to parse.
    """
    digits = text.translate(_PHONE_PUNCTUATION)
    if digits[:1] == "+":
        if digits[1:2] != "1":
            return None
        digits = digits[1:]
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) != 10 or not (digits.isascii() and digits.isdigit()) or digits[0] in "01":
        return None
    return phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))


def _check_email(text: str, ctx: _Context) -> str:
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as problem:
        raise Unfit("invalid_email", str(problem)) from None
    domain = checked.ascii_domain.lower()
    ctx.email_domain = domain
    ctx.is_disposable = _is_disposable(domain)
    return f"{checked.local_part}@{checked.domain.lower()}"


def _is_disposable(domain: str) -> bool:
    # The blocklist names base domains; a sub-domain of one is as disposable.
    while "." in domain:
        if domain in _DISPOSABLE:
            return True
        domain = domain.split(".", 1)[1]
    return False


def _check_zip(text: str, ctx: _Context) -> str:
    # Five digits, or ZIP+4 written 12345-6789 or 123456789; the 5-digit zip is kept.
    digits = text[:5] + text[6:] if len(text) == 10 and text[5] == "-" else text
    state = None
    if len(digits) in (5, 9) and digits.isascii() and digits.isdigit():
        state = zip_states().get(digits[:5])
    if state is None:
        raise Unfit("invalid_zip", "is not a US zip code")
    ctx.zip_state = state
    return digits[:5]


@lru_cache(maxsize=1)
def zip_states() -> dict[str, str]:
    """Every US zip code → its state's code, built once (about a second; call at start-up)."""
    # One query per state keeps the peak memory a third of one query for all 42k zips.
    return {
        place["zip_code"]: code for code in STATE_NAMES_BY_CODE for place in zipcodes.filter_by(state=code)
    }


def _check_state(text: str, ctx: _Context) -> str:
    code = state_code(text)
    if code is None:
        raise Unfit("invalid_state", "is not a US state or territory")
    return code


def _check_ip(text: str, ctx: _Context) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise Unfit("invalid_ip", "is not an IPv4 or IPv6 address") from None
    ctx.is_private_ip = address.is_private or address.is_loopback or address.is_link_local
    return str(address)


def _check_url(text: str, ctx: _Context) -> str:
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        host = None
    if host is None or parts.scheme.lower() not in ("http", "https"):
        raise Unfit("invalid_url", "must be an http or https address with a host")
    return text


def _check_age(iso: str, ctx: _Context) -> str:
    born = date.fromisoformat(iso)
    today = ctx.today
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if not MIN_AGE <= age <= MAX_AGE:
        raise Unfit("invalid_value", f"gives an age outside {MIN_AGE} to {MAX_AGE}")
    return iso


def _check_year(year: int, ctx: _Context) -> int:
    if not FIRST_YEAR <= year <= ctx.max_year:
        raise Unfit("invalid_value", f"must be a year from {FIRST_YEAR} to {ctx.max_year}")
    return year


def _check_cents(cents: int, ctx: _Context) -> int:
    if cents < 0:
        raise Unfit("invalid_value", "must not be negative")
    return cents


_TEXT_CHECKS: dict[str, Callable[[Any, _Context], Any]] = {
    "phone": _check_phone,
    "email": _check_email,
    "zip": _check_zip,
    "state": _check_state,
    "ip_address": _check_ip,
    "landing_page_url": _check_url,
}
_YEAR_FIELDS = frozenset({"vehicle_year", "trade_in_year"})


class _FieldPlan(NamedTuple):
    name: str
    convert: Callable[[Any], Any]
    is_required: bool
    check: Callable[[Any, _Context], Any] | None


class _Plan(NamedTuple):
    fields: tuple[_FieldPlan, ...]
    optional: tuple[str, ...]
    known: frozenset[str]
    is_state_required: bool


_fields_encoder = msgspec.msgpack.Encoder()
_fields_decoder = msgspec.msgpack.Decoder(list[FieldSpec])


@lru_cache(maxsize=256)
def _plan(key: str, encoded_fields: bytes) -> _Plan:
    """How to check each field of one vertical, worked out once per vertical version."""
    del key  # part of the cache key only: two verticals may share a field list
    specs = [(f.name, f.type, f.required, f.values or []) for f in _fields_decoder.decode(encoded_fields)]
    listed = {name for name, *_ in specs}
    every = specs + [(n, "str", False, []) for n in CANONICAL_FIELDS if n not in listed]
    fields = []
    for name, kind, is_required, values in every:
        check: Callable[[Any, _Context], Any] | None = None
        convert: Callable[[Any], Any]
        if kind == "str":
            limit = MAX_LONG_TEXT if name in LONG_TEXT_FIELDS else MAX_TEXT
            tidy = clean_name if name in NAME_FIELDS else clean_text
            convert = to_zip_text if name == "zip" else partial(to_text, limit=limit, tidy=tidy)
            check = _TEXT_CHECKS.get(name)
        elif kind == "int":
            convert = to_int
            check = _check_year if name in _YEAR_FIELDS else None
            check = _check_cents if name.endswith("_cents") else check
        elif kind == "bool":
            convert = to_bool
        elif kind == "date":
            convert = to_date
            check = _check_age if name == "date_of_birth" else None
        else:
            # Exact spellings first, so the usual case skips enum_key.
            choices = {enum_key(v): v for v in values} | {v: v for v in values}
            convert = partial(to_enum, choices=choices, allowed=", ".join(values))
        # A missing state may still be filled from the zip, so it is judged after the loop.
        fields.append(_FieldPlan(name, convert, is_required and name != "state", check))
    optional = tuple(name for name, _, is_required, _ in specs if not is_required)
    is_state_required = any(name == "state" and is_required for name, _, is_required, _ in specs)
    known = frozenset(listed | set(CANONICAL_FIELDS) | {"consent"})
    return _Plan(tuple(fields), optional, known, is_state_required)


def _plan_for(vertical: Vertical) -> _Plan:
    # The encoded field list is an exact key: an edited vertical gets a new plan. The same
    # Vertical object (verticals are cached and immutable) skips even the encoding.
    held = _plan_by_object.get(vertical.key)
    if held is not None and held[0] is vertical:
        return held[1]
    plan = _plan(vertical.key, _fields_encoder.encode(vertical.fields))
    _plan_by_object[vertical.key] = (vertical, plan)
    return plan


_plan_by_object: dict[str, tuple[Vertical, _Plan]] = {}


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and (not value or value.isspace()))


def validate_lead(raw: dict[str, Any], vertical: Vertical, *, now: datetime) -> Checked:
    """Check `raw` (after mapping) against `vertical`; collect every problem at once."""
    plan = _plan_for(vertical)
    now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    ctx = _Context(now.date())
    errors: list[FieldError] = []
    fields: dict[str, Any] = {}

    for name, convert, is_required, check in plan.fields:
        value = raw.get(name)
        if value is None or (value.__class__ is str and (not value or value.isspace())):
            if is_required:
                errors.append(FieldError(field=name, code="required", message="is required"))
            continue
        try:
            typed = convert(value)
            fields[name] = typed if check is None else check(typed, ctx)
        except Unfit as problem:
            errors.append(FieldError(field=name, code=problem.code, message=problem.message))

    optional = plan.optional
    completeness = sum(1 for n in optional if n in fields) / len(optional) if optional else 1.0

    state_from_zip = False
    if ctx.zip_state is not None:
        state = fields.get("state")
        if state is None and _is_blank(raw.get("state")):
            fields["state"] = ctx.zip_state
            state_from_zip = True
        elif state is not None and state != ctx.zip_state:
            message = f"zip {fields['zip']} is in {ctx.zip_state}, not in {state}"
            errors.append(FieldError(field="zip", code="zip_state_mismatch", message=message))
    if plan.is_state_required and _is_blank(raw.get("state")) and not state_from_zip:
        errors.append(FieldError(field="state", code="required", message="is required"))

    if _is_blank(raw.get("phone")) and _is_blank(raw.get("email")):
        if not any(e.field == "phone" for e in errors):
            errors.append(FieldError(field="phone", code="required", message="phone or email is required"))

    consent, consent_extra, evidence = _read_consent(raw.get("consent"), now, errors)
    if vertical.distribution.require_consent and not evidence:
        errors.append(
            FieldError(
                field="consent",
                code="required",
                message="consent is required: text with a timestamp, a TrustedForm certificate "
                "or a Jornaya LeadiD",
            )
        )

    kept = consent or Consent()
    signals = LeadSignals(
        phone_type=ctx.phone_type,
        is_disposable_email=ctx.is_disposable,
        email_domain=ctx.email_domain,
        has_trustedform=kept.trustedform_cert_url is not None,
        has_jornaya=kept.jornaya_leadid is not None,
        has_consent_text=kept.text is not None and kept.timestamp is not None,
        is_private_ip=ctx.is_private_ip,
        completeness=completeness,
        state_from_zip=state_from_zip,
    )
    if errors:
        return Checked(lead=None, errors=errors, signals=signals)
    known = plan.known
    extra = {k: v for k, v in raw.items() if k not in known}
    if consent_extra:
        extra["consent"] = consent_extra
    lead = Lead(vertical=vertical.key, fields=fields, consent=consent, extra=extra)
    return Checked(lead=lead, errors=errors, signals=signals)


def _read_consent(
    value: Any, now: datetime, errors: list[FieldError]
) -> tuple[Consent | None, dict[str, Any], bool]:
    """The consent, its unknown keys, and whether evidence of consent was sent at all."""
    if _is_blank(value):
        return None, {}, False
    if not isinstance(value, dict):
        errors.append(
            FieldError(
                field="consent",
                code="invalid_type",
                message=f"must be an object, not {describe(value)}",
            )
        )
        return None, {}, False
    found: dict[str, Any] = {}
    for name, read in _CONSENT_READERS.items():
        item = value.get(name)
        if _is_blank(item):
            continue
        try:
            found[name] = read(item, now)
        except Unfit as problem:
            errors.append(FieldError(field=f"consent.{name}", code=problem.code, message=problem.message))
    sent = {name for name in _CONSENT_READERS if not _is_blank(value.get(name))}
    # Evidence is judged on what was sent; a malformed item already has its own error.
    evidence = bool(sent & {"trustedform_cert_url", "jornaya_leadid"}) or {"text", "timestamp"} <= sent
    unknown = {k: v for k, v in value.items() if k not in _CONSENT_READERS}
    return (Consent(**found) if found else None), unknown, evidence


def _read_consent_text(value: Any, now: datetime) -> str:
    return to_text(value, limit=MAX_LONG_TEXT)


def _read_timestamp(value: Any, now: datetime) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = value.strip() if isinstance(value, str) else ""
        # A date alone is not a moment of consent: ISO 8601 with a time part is required.
        try:
            if "T" not in text.upper() and " " not in text:
                raise ValueError(text)
            moment = datetime.fromisoformat(text)
        except ValueError:
            raise Unfit("invalid_timestamp", "must be an ISO 8601 date-time") from None
    try:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:  # an offset pushing year 1 or 9999 past the calendar's end
        raise Unfit("invalid_timestamp", "must be an ISO 8601 date-time") from None
    if moment > now + CLOCK_SKEW:
        raise Unfit("future_timestamp", "is in the future")
    return moment


def _read_trustedform(value: Any, now: datetime) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not _TRUSTEDFORM.fullmatch(text):
        raise Unfit(
            "invalid_trustedform_cert",
            "must be https://cert.trustedform.com/ followed by 40 hex characters",
        )
    return text


def _read_jornaya(value: Any, now: datetime) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not _JORNAYA.fullmatch(text):
        raise Unfit("invalid_jornaya_leadid", "must be a LeadiD token shaped like a UUID")
    return text.upper()


_CONSENT_READERS: dict[str, Callable[[Any, datetime], Any]] = {
    "text": _read_consent_text,
    "timestamp": _read_timestamp,
    "trustedform_cert_url": _read_trustedform,
    "jornaya_leadid": _read_jornaya,
}
