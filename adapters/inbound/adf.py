"""ADF (Auto-lead Data Format) documents: each `<prospect>` becomes one `auto_sales` field dict.

Real senders vary (namespaces, missing parts, placeholder text), so every element is optional here;
values are kept as sent, validation normalises them later.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from lxml import etree

from adapters.inbound.safexml import local_name, parse_xml
from exchange.errors import BadRequest

# Text that senders put where they have nothing to say.
_PLACEHOLDERS = frozenset({"", "n/a", "na", "none", "null", "nil", "-", "--", "unknown"})
_PREFERRED_PHONE_TYPES = frozenset({"", "voice", "cellphone"})
# 23999, 23,999.00, $23,999, 23999 USD: thousands commas and a currency mark, at most 2 decimals.
_PRICE = re.compile(
    r"(?:[A-Za-z]{3}|[$€£])?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,2}))?\s*(?:[A-Za-z]{3}|[$€£])?"
)
# More digits than any price, odometer or line number has: such text is not one (and int()
# refuses numbers of thousands of digits).
_MAX_DIGITS = 12
_VEHICLE_FIELDS = (
    ("year", "vehicle_year"),
    ("make", "vehicle_make"),
    ("model", "vehicle_model"),
    ("trim", "vehicle_trim"),
    ("vin", "vehicle_vin"),
    ("price_cents", "vehicle_price_cents"),
)
_TRADE_IN_FIELDS = (
    ("year", "trade_in_year"),
    ("make", "trade_in_make"),
    ("model", "trade_in_model"),
)


def parse_adf_prospects(body: bytes, charset: str | None = None) -> list[dict[str, Any]]:
    """Every prospect of an ADF document, one field dict each (for e-mail and file intake)."""
    return prospects_from_root(parse_xml(body, charset))


def prospects_from_root(root: etree._Element) -> list[dict[str, Any]]:
    if local_name(root).lower() != "adf":
        raise BadRequest(
            f"an ADF document's root element is <adf>, not <{local_name(root)}>",
            code="malformed_adf",
        )
    prospects = [prospect_fields(prospect) for prospect in _children(root, "prospect")]
    if not prospects:
        raise BadRequest("the ADF document has no <prospect>", code="malformed_adf")
    return prospects


def prospect_fields(prospect: etree._Element) -> dict[str, Any]:
    """Map one `<prospect>` to `auto_sales` fields; absent or placeholder values are left out."""
    fields: dict[str, Any] = {}
    customer = _child(prospect, "customer")
    contact = _primary_contact(customer)
    first_name, last_name = _person_name(contact)
    fields["first_name"] = first_name
    fields["last_name"] = last_name
    fields["email"] = _text(_child(contact, "email"))
    fields["phone"] = _phone(contact)
    fields.update(_address(_child(contact, "address")))
    fields["request_date"] = _text(_child(prospect, "requestdate"))

    vehicles = [_vehicle(element) for element in _children(prospect, "vehicle")]
    wanted = next((v for v in vehicles if v.get("interest") != "trade-in"), None)
    if wanted is not None:
        fields["interest"] = wanted.get("interest")
        fields["vehicle_status"] = wanted.get("status")
        for key, name in _VEHICLE_FIELDS:
            fields[name] = wanted.get(key)
    trade_in = next((v for v in vehicles if v.get("interest") == "trade-in"), None)
    if trade_in is not None:
        for key, name in _TRADE_IN_FIELDS:
            fields[name] = trade_in.get(key)
        fields["trade_in_mileage"] = _mileage(trade_in.get("odometer") or trade_in.get("mileage"))

    fields["comments"] = _text(_child(customer, "comments"))
    # The DTD puts <timeframe> in <customer>; some senders put it in <prospect>.
    timeframe = _child(customer, "timeframe")
    if timeframe is None:
        timeframe = _child(prospect, "timeframe")
    fields["timeframe"] = _timeframe(timeframe)
    vendor = _child(prospect, "vendor")
    fields["vendor_name"] = _text(_child(vendor, "vendorname")) or _contact_name(vendor)
    provider = _child(prospect, "provider")
    fields["provider_name"] = _text(_child(provider, "name")) or _contact_name(provider)
    if vehicles:
        fields["vehicles"] = vehicles
    return {name: value for name, value in fields.items() if value is not None}


def _children(parent: etree._Element | None, name: str) -> Iterator[etree._Element]:
    if parent is None:
        return
    for child in parent:
        if local_name(child).lower() == name:
            yield child


def _child(parent: etree._Element | None, name: str) -> etree._Element | None:
    return next(_children(parent, name), None)


def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return None if text.lower() in _PLACEHOLDERS else text


def _attribute(element: etree._Element, name: str) -> str | None:
    value = (element.get(name) or "").strip().lower()
    return None if value in _PLACEHOLDERS else value


def _primary_contact(parent: etree._Element | None) -> etree._Element | None:
    contacts = list(_children(parent, "contact"))
    primary = [c for c in contacts if (c.get("primarycontact") or "").strip() == "1"]
    return (primary or contacts or [None])[0]


def _person_name(contact: etree._Element | None) -> tuple[str | None, str | None]:
    """First and last name; explicit parts win over a full name split at its first space."""
    first = last = full_first = full_last = None
    for element in _children(contact, "name"):
        text = _text(element)
        if text is None:
            continue
        part = _attribute(element, "part") or "full"  # the DTD's default part is "full"
        if part == "first":
            first = first or text
        elif part in ("last", "surname"):
            last = last or text
        elif part == "full" and full_first is None:
            words = text.split(None, 1)
            full_first = words[0]
            full_last = words[1] if len(words) > 1 else None
    return first or full_first, last or full_last


def _contact_name(parent: etree._Element | None) -> str | None:
    first, last = _person_name(_primary_contact(parent))
    return " ".join(part for part in (first, last) if part) or None


def _phone(contact: etree._Element | None) -> str | None:
    """A voice or mobile number when there is one (not a fax or pager), else the first."""
    phones = [
        (_attribute(element, "type") or "", text)
        for element in _children(contact, "phone")
        if (text := _text(element)) is not None
    ]
    preferred = [text for kind, text in phones if kind in _PREFERRED_PHONE_TYPES]
    return (preferred or [text for _, text in phones] or [None])[0]


def _address(address: etree._Element | None) -> dict[str, str | None]:
    if address is None:
        return {}
    streets = sorted(
        enumerate(_children(address, "street")),
        key=lambda item: (_line_number(item[1]), item[0]),
    )
    lines = [_text(street) for _, street in streets]
    lines.append(_text(_child(address, "apartment")))  # ADF's own element after the street lines
    return {
        "address": " ".join(line for line in lines if line) or None,
        "city": _text(_child(address, "city")),
        "state": _text(_child(address, "regioncode")),
        "zip": _text(_child(address, "postalcode")),
        "country": _text(_child(address, "country")),
    }


def _line_number(street: etree._Element) -> int:
    line = (street.get("line") or "").strip()
    # isdecimal, not isdigit: "²" is a digit int() cannot read.
    return int(line) if line.isdecimal() and len(line) <= _MAX_DIGITS else 1


def _vehicle(element: etree._Element) -> dict[str, Any]:
    """One `<vehicle>`: its attributes and its simple child elements, as sent."""
    interest = _attribute(element, "interest")
    if interest is not None and interest.replace(" ", "").replace("-", "") == "tradein":
        interest = "trade-in"
    vehicle: dict[str, Any] = {"interest": interest, "status": _attribute(element, "status")}
    for child in element:
        name = local_name(child).lower()
        if len(child) == 0 and vehicle.get(name) is None:
            vehicle[name] = _text(child)
    vehicle["price_cents"] = _price_cents(_child(element, "price"))
    return {key: value for key, value in vehicle.items() if value is not None}


def _price_cents(price: etree._Element | None) -> int | None:
    """Currency units to integer cents; a relative price (a delta) or odd text is left out."""
    text = _text(price)
    if price is None or text is None:
        return None
    if (price.get("delta") or "absolute").strip().lower() != "absolute":
        return None
    match = _PRICE.fullmatch(text)
    if match is None:
        return None
    units, decimals = match.group(1).replace(",", ""), (match.group(2) or "").ljust(2, "0")
    if len(units) > _MAX_DIGITS:
        return None
    return int(units) * 100 + int(decimals)


def _mileage(text: str | None) -> int | None:
    digits = re.sub(r"\D", "", text or "")
    return int(digits) if digits and len(digits) <= _MAX_DIGITS else None


def _timeframe(timeframe: etree._Element | None) -> str | None:
    """Its description, else its earliest/latest dates, else its own text."""
    if timeframe is None:
        return None
    description = _text(_child(timeframe, "description"))
    if description is not None:
        return description
    earliest = _text(_child(timeframe, "earliestdate"))
    latest = _text(_child(timeframe, "latestdate"))
    if earliest and latest:
        return f"{earliest} to {latest}"
    if earliest:
        return f"from {earliest}"
    if latest:
        return f"by {latest}"
    return _text(timeframe)
