"""Normalize: rename a publisher's own field names to ours, tidy strings, type raw values.

Pure functions. The converters turn one raw value into its canonical typed form or raise
Unfit; validate.py applies them field by field and adds the rules.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

# Fields holding a person's name: tidied for case as well as for whitespace.
NAME_FIELDS: frozenset[str] = frozenset({"first_name", "last_name"})


def apply_mapping(raw: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    """Rename `raw`'s keys by `mapping` (theirs → ours); a dotted target nests.

    `{"consent_text": "consent.text"}` puts the value at `out["consent"]["text"]`.
    Unmapped names pass through; an unmapped dotted name (a form's `consent.text`)
    nests too, so flat and nested bodies end up alike. A mapping key may name one
    level inside a nested value (`"tcpa.cert": "consent.trustedform_cert_url"`).
    When two names land on the same target the later one wins. `raw` is not modified.
    """
    nested_sources = {key.split(".", 1)[0] for key in mapping if "." in key}
    out: dict[str, Any] = {}
    for key, value in raw.items():
        target = mapping.get(key)
        if target is None and key in nested_sources and isinstance(value, dict):
            for sub_key, sub_value in value.items():
                path = f"{key}.{sub_key}"
                _put(out, mapping.get(path, path), sub_value)
            continue
        _put(out, key if target is None else target, value)
    return out


def _put(out: dict[str, Any], target: str, value: Any) -> None:
    if not isinstance(target, str) or "." not in target:
        existing = out.get(target)
        if isinstance(existing, dict) and isinstance(value, dict):
            # `consent.text` may arrive before a `consent` object: keep both halves.
            out[target] = {**existing, **value}
        else:
            out[target] = value
        return
    head, tail = target.split(".", 1)
    node = out.get(head)
    if node is None:
        node = {}
    elif isinstance(node, dict):
        # Copied before writing into it: it may be the caller's own nested dict.
        node = dict(node)
    else:
        # The parent already holds a scalar; keep the dotted name flat rather than lose either.
        out[target] = value
        return
    out[head] = node
    _put(node, tail, value)


def without_nul(fields: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], list[str]]:
    """The fields with every NUL character (which no lead field holds, and PostgreSQL will not
    store) replaced by U+FFFD, and the names of the fields that held one."""
    clean: dict[str, Any] = {}
    found: list[str] = []
    for name, value in fields.items():
        where = f"{prefix}{name}"
        if "\x00" in name:
            name = name.replace("\x00", "\ufffd")
            found.append(name)
        if isinstance(value, str) and "\x00" in value:
            value = value.replace("\x00", "\ufffd")
            found.append(where)
        elif isinstance(value, dict):
            value, inner = without_nul(value, f"{where}.")
            found += inner
        clean[name] = value
    return clean, found


def clean_text(value: str) -> str:
    """Strip, and collapse every inner run of whitespace to one space."""
    return " ".join(value.split())


def clean_name(value: str) -> str:
    """Tidy a person's name; title-case it only when it was sent all upper or all lower.

    Mixed case is the sender's choice (`McDonald`, `van der Berg`) and is kept.
    """
    text = " ".join(value.split())
    if text.isupper() or text.islower():
        return text.title()
    return text


def enum_key(value: str) -> str:
    """The comparison form of an enum value: lower case, spaces and hyphens as `_`."""
    return "_".join(value.lower().replace("-", " ").split())


# USPS codes of the states, DC, the territories and the military "states" (zip codes
# exist for all of them), with the names publishers spell out instead.
# fmt: off
STATE_NAMES_BY_CODE: dict[str, str] = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa",
    "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada",
    "NH": "New Hampshire", "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York",
    "NC": "North Carolina", "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma",
    "OR": "Oregon", "PA": "Pennsylvania", "RI": "Rhode Island", "SC": "South Carolina",
    "SD": "South Dakota", "TN": "Tennessee", "TX": "Texas", "UT": "Utah", "VT": "Vermont",
    "VA": "Virginia", "WA": "Washington", "WV": "West Virginia", "WI": "Wisconsin",
    "WY": "Wyoming", "DC": "District of Columbia", "AS": "American Samoa", "GU": "Guam",
    "MP": "Northern Mariana Islands", "PR": "Puerto Rico", "VI": "U.S. Virgin Islands",
    "FM": "Federated States of Micronesia", "MH": "Marshall Islands", "PW": "Palau",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe", "AP": "Armed Forces Pacific",
}
# fmt: on
_STATE_CODES_BY_NAME: dict[str, str] = {
    **{name.lower(): code for code, name in STATE_NAMES_BY_CODE.items()},
    "virgin islands": "VI",
    "us virgin islands": "VI",
    "micronesia": "FM",
    "washington dc": "DC",
    "washington d.c.": "DC",
}


def state_code(text: str) -> str | None:
    """The 2-letter USPS code for a code or a full name in any case, or None."""
    if len(text) == 2:
        code = text.upper()
        return code if code in STATE_NAMES_BY_CODE else None
    return _STATE_CODES_BY_NAME.get(" ".join(text.lower().split()))


class Unfit(ValueError):
    """A raw value that cannot become its field's canonical form: a code and a plain reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


MAX_TEXT = 255
# Integers are stored in BIGINT columns.
MAX_INT = 2**63 - 1
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


def describe(value: Any) -> str:
    """What kind of value this is, in a publisher's words."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float):
        return "a number"
    return type(value).__name__


def to_text(value: Any, *, limit: int = MAX_TEXT, tidy: Callable[[str], str] = clean_text) -> str:
    """Text tidied by `tidy`; numbers become their digits; at most `limit` characters."""
    if isinstance(value, str):
        text = tidy(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        # A huge number is refused before str(), which itself refuses beyond 4300 digits.
        if value.bit_length() > 4 * limit:
            raise Unfit("invalid_value", f"is longer than {limit} characters")
        text = str(value)
    elif isinstance(value, float) and math.isfinite(value):
        text = str(int(value)) if value.is_integer() else repr(value)
    else:
        raise Unfit("invalid_type", f"must be text, not {describe(value)}")
    if len(text) > limit:
        raise Unfit("invalid_value", f"is longer than {limit} characters")
    return text


def to_zip_text(value: Any) -> str:
    """A zip as text; a JSON number gets back the leading zeros it lost (2134 → 02134)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 100_000:
        return f"{value:05d}"
    return to_text(value)


def to_int(value: Any) -> int:
    """A JSON integer, a float without a fraction, or digits with an optional sign."""
    if isinstance(value, bool):
        raise Unfit("invalid_type", "must be a whole number, not true/false")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in ("+", "-") else text
        if not (digits.isascii() and digits.isdigit()):
            raise Unfit("invalid_type", "must be a whole number")
        if len(digits) > 19:
            raise Unfit("invalid_value", "is too large")
        number = int(text)
    else:
        raise Unfit("invalid_type", f"must be a whole number, not {describe(value)}")
    if not -MAX_INT <= number <= MAX_INT:
        raise Unfit("invalid_value", "is too large")
    return number


def to_bool(value: Any) -> bool:
    """A JSON bool, 1/0, or true/false/yes/no/1/0 in any case."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise Unfit("invalid_type", "must be true/false, yes/no or 1/0")


def to_date(value: Any) -> str:
    """YYYY-MM-DD from YYYY-MM-DD, MM/DD/YYYY, or an ISO date-time (its date as written)."""
    if not isinstance(value, str):
        raise Unfit("invalid_type", f"must be a date, not {describe(value)}")
    text = value.strip()
    try:
        if len(text) == 10 and text[4] == "-" and text[7] == "-":
            return date.fromisoformat(text).isoformat()
        if "/" in text:
            month, day, year = text.split("/")
            digits = month + day + year
            if len(year) == 4 and len(month) <= 2 and len(day) <= 2 and digits.isascii() and digits.isdigit():
                return date(int(year), int(month), int(day)).isoformat()
        elif len(text) > 10 and text[10] in "Tt ":
            return datetime.fromisoformat(text).date().isoformat()
    except ValueError:
        pass
    raise Unfit("invalid_type", "must be a date as YYYY-MM-DD or MM/DD/YYYY")


def to_enum(value: Any, *, choices: dict[str, str], allowed: str) -> str:
    """The canonical spelling of an enum value; `choices` maps v and enum_key(v) → v."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise Unfit("invalid_type", f"must be one of {allowed}, not {describe(value)}")
    text = value if isinstance(value, str) else to_text(value)
    canonical = choices.get(text) or choices.get(enum_key(text))
    if canonical is None:
        raise Unfit("invalid_value", f"must be one of {allowed}")
    return canonical
