"""A lead as an ADF 1.0 document (Auto-lead Data Format): the XML dealers' CRMs import by e-mail.

Elements come in the order the ADF 1.0 DTD sets, and every element it requires is written,
empty when the lead has nothing for it: a CRM that validates would drop the whole lead
otherwise. Fields ADF has no element for go, labelled, in the customer's `<comments>`, so
nothing the buyer paid for is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec
from lxml import etree

PROVIDER = "lead-exchange"
# Written by hand: lxml would write `version='1.0'`, and some importers match these lines literally.
PROLOGUE = '<?xml version="1.0"?>\n<?adf version="1.0"?>\n'
INTERESTS = frozenset({"buy", "lease", "sell", "trade-in", "test-drive"})

# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# The vehicle of interest: each ADF element and the field names that may fill it, first found wins
# (`vehicle_*` is the auto verticals' naming; plain `year` a publisher's own vertical's).
_VEHICLE = (
    ("year", ("vehicle_year", "year")),
    ("make", ("vehicle_make", "make")),
    ("model", ("vehicle_model", "model")),
    ("vin", ("vehicle_vin", "vin")),
    ("trim", ("vehicle_trim", "trim")),
)
_TRADE_IN = (
    ("year", "trade_in_year"),
    ("make", "trade_in_make"),
    ("model", "trade_in_model"),
)
_ADDRESS = (("city", "city"), ("regioncode", "state"), ("postalcode", "zip"))
# Fields with an element of their own, and those describing the document a lead came in
# (its sender's vendor and provider), which this document's own vendor and provider replace.
_PLACED = frozenset(
    {
        "lead_id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "address",
        "city",
        "state",
        "zip",
        "request_date",
        "received_at",
        "interest",
        "vehicle_status",
        "vehicle_price_cents",
        "trade_in_mileage",
        "comments",
        "vendor_name",
        "provider_name",
        *(name for _, names in _VEHICLE for name in names),
        *(name for _, name in _TRADE_IN),
    }
)
# Words a label spells in capitals.
_ACRONYMS = {"ip": "IP", "url": "URL", "vin": "VIN", "id": "id", "tcpa": "TCPA"}


def adf_document(
    fields: Mapping[str, Any],
    *,
    vendor: str,
    vendor_email: str,
    now: datetime | None = None,
) -> str:
    """The ADF document for one lead. `vendor` names the party sending it (the DTD requires a
    vendor contact with an e-mail or a phone: `vendor_email`); `now` is the request date when
    the lead carries none."""
    values = plain(fields)
    prospect = etree.Element("prospect", status="new")
    if values.get("lead_id"):
        _add(prospect, "id", values["lead_id"], sequence="1", source=PROVIDER)
    _add(prospect, "requestdate", _request_date(values, now))
    _add_vehicle(prospect, values)
    if any(values.get(name) not in (None, "") for _, name in _TRADE_IN):
        _add_trade_in(prospect, values)
    _add_customer(prospect, values)
    vendor_element = etree.SubElement(prospect, "vendor")
    _add(vendor_element, "vendorname", vendor)
    vendor_contact = etree.SubElement(vendor_element, "contact")
    _add(vendor_contact, "name", vendor, part="full")
    _add(vendor_contact, "email", vendor_email)
    provider = etree.SubElement(prospect, "provider")
    _add(provider, "name", PROVIDER, part="full")
    root = etree.Element("adf")
    root.append(prospect)
    return PROLOGUE + etree.tostring(root, encoding="unicode", pretty_print=True)


def plain(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The lead as builtins: a `Consent` Struct becomes a dict, a datetime its ISO 8601 text."""
    converted = msgspec.to_builtins(dict(fields))
    return {name: value for name, value in converted.items() if value is not None}


def labelled_lines(fields: Mapping[str, Any], names: Iterable[str]) -> list[str]:
    """`Label: value` lines a person reads, for `names` of `fields` that have a value; a group
    (consent) gives a line per member, a money field in `_cents` reads in dollars."""
    lines: list[str] = []
    for name in names:
        for path, value in _flatten(name, fields.get(name)):
            lines.append(f"{label(path)}: {_readable(path, value)}")
    return lines


def label(name: str) -> str:
    """`vehicle_price_cents` → "Vehicle price", `consent.trustedform_cert_url` → "Consent
    trustedform cert URL"."""
    words = [w for w in re.split(r"[_.\s]+", name) if w]
    if words and words[-1] == "cents":
        words.pop()
    words = [_ACRONYMS.get(w.lower(), w) for w in words] or [name]
    first = words[0]
    text = " ".join([first if first.isupper() else first.capitalize(), *words[1:]])
    return text.replace("Trade in", "Trade-in").replace(" trade in", " trade-in")


def xml_text(value: Any) -> str:
    """The value as text XML can carry: characters it cannot are dropped."""
    return _NOT_XML_CHAR.sub("", value if isinstance(value, str) else _scalar(value))


def _request_date(values: Mapping[str, Any], now: datetime | None) -> str:
    given = values.get("request_date") or values.get("received_at")
    if given:
        return str(given)
    return (now or datetime.now(UTC)).isoformat(timespec="seconds")


def _add_vehicle(prospect: etree._Element, values: Mapping[str, Any]) -> None:
    interest = values.get("interest")
    vehicle = etree.SubElement(
        prospect,
        "vehicle",
        interest=interest if interest in INTERESTS else "buy",
        status="used" if values.get("vehicle_status") == "used" else "new",
    )
    for element, names in _VEHICLE:
        value = next((values[n] for n in names if values.get(n) not in (None, "")), None)
        # The DTD requires year, make and model: empty when the lead names no vehicle.
        if value is not None or element in ("year", "make", "model"):
            _add(vehicle, element, "" if value is None else value)
    price = values.get("vehicle_price_cents")
    if isinstance(price, int) and not isinstance(price, bool):
        _add(vehicle, "price", f"{price / 100:.2f}", type="quote", currency="USD")


def _add_trade_in(prospect: etree._Element, values: Mapping[str, Any]) -> None:
    trade_in = etree.SubElement(prospect, "vehicle", interest="trade-in", status="used")
    for element, name in _TRADE_IN:
        _add(trade_in, element, values.get(name, ""))
    mileage = values.get("trade_in_mileage")
    if mileage not in (None, ""):
        _add(trade_in, "odometer", mileage, units="mi")


def _add_customer(prospect: etree._Element, values: Mapping[str, Any]) -> None:
    customer = etree.SubElement(prospect, "customer")
    contact = etree.SubElement(customer, "contact")
    names = [(part, values.get(f"{part}_name")) for part in ("first", "last")]
    names = [(part, name) for part, name in names if name not in (None, "")]
    for part, name in names or [("full", "")]:  # the DTD requires a name
        _add(contact, "name", name, part=part)
    if values.get("email"):
        _add(contact, "email", values["email"])
    if values.get("phone") or not values.get("email"):  # …and an e-mail or a phone
        _add(contact, "phone", values.get("phone", ""), type="voice")
    if any(values.get(name) not in (None, "") for name in ("address", "city", "state", "zip")):
        address = etree.SubElement(contact, "address")
        _add(address, "street", values.get("address", ""), line="1")  # the DTD requires a street
        for element, name in _ADDRESS:
            if values.get(name) not in (None, ""):
                _add(address, element, values[name])
    comments = _comments(values)
    if comments:
        _add(customer, "comments", comments)


def _comments(values: Mapping[str, Any]) -> str:
    """The lead's own comments, then a labelled line per field without an element of its own.
    (A free-text timeframe goes here too: ADF's `<timeframe>` wants dates.)"""
    lines = [str(values["comments"])] if values.get("comments") else []
    lines += labelled_lines(values, [name for name in values if name not in _PLACED])
    return "\n".join(lines)


def _add(parent: etree._Element, tag: str, value: Any, **attributes: str) -> None:
    element = etree.SubElement(parent, tag, {k: xml_text(v) for k, v in attributes.items()})
    element.text = xml_text(value)


def _flatten(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    if value is None or value == "" or value == [] or value == {}:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(f"{name}.{key}", item)
    else:
        yield name, value


def _readable(name: str, value: Any) -> str:
    if name.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
        return f"{value / 100:,.2f}"
    if isinstance(value, list):
        return ", ".join(_scalar(item) for item in value)
    return _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str | int | float):
        return str(value)
    return msgspec.json.encode(value).decode()
