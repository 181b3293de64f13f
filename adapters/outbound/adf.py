"""A lead as an ADF 1.0 document (Auto-lead Data Format), the XML dealers' CRMs import by e-mail.

The document follows the ADF 1.0 DTD: one `<prospect>` with the request date, the vehicle of
interest (and a trade-in when the lead has one), the customer's contact, the vendor (the
dealer receiving it: the delivery's `vendor` name and its address), and the exchange as the
provider. The lead's id goes in the prospect's `<id source="lead-exchange">`, so a CRM that
keeps ids tells a repeat from a new lead. ADF's `<timeframe>` is structured; a lead's
free-text timeframe goes in the comments. Fields ADF has no element for are listed in the
customer's `<comments>`, one `name: value` per line, so nothing the buyer paid for is lost.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lxml import etree

PROVIDER = "lead-exchange"
# Characters XML 1.0 cannot carry, even escaped.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Fields the document carries in their own elements (the rest go in the comments).
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
        "vehicle_year",
        "vehicle_make",
        "vehicle_model",
        "vehicle_trim",
        "vehicle_vin",
        "vehicle_price_cents",
        "trade_in_year",
        "trade_in_make",
        "trade_in_model",
        "trade_in_mileage",
        "timeframe",
        "comments",
        "consent",
    }
)
_INTERESTS = frozenset({"buy", "lease", "sell", "trade-in", "test-drive"})


def adf_document(
    fields: Mapping[str, Any], *, vendor: str, vendor_email: str, now: datetime | None = None
) -> str:
    """The ADF XML for one lead, with its `<?adf version="1.0"?>` instruction."""
    prospect = etree.Element("prospect", status="new")
    if fields.get("lead_id"):
        _text(prospect, "id", fields["lead_id"], sequence="1", source=PROVIDER)
    requested = fields.get("request_date") or fields.get("received_at") or (now or datetime.now(UTC))
    _text(prospect, "requestdate", requested.isoformat() if isinstance(requested, datetime) else requested)
    interest = str(fields.get("interest") or "buy")
    vehicle = etree.SubElement(
        prospect,
        "vehicle",
        interest=interest if interest in _INTERESTS else "buy",
        status="used" if fields.get("vehicle_status") == "used" else "new",
    )
    # The DTD requires year, make and model: empty when the lead names no vehicle.
    _text(vehicle, "year", fields.get("vehicle_year") or "")
    _text(vehicle, "make", fields.get("vehicle_make") or "")
    _text(vehicle, "model", fields.get("vehicle_model") or "")
    _optional(vehicle, "vin", fields.get("vehicle_vin"))
    _optional(vehicle, "trim", fields.get("vehicle_trim"))
    if fields.get("vehicle_price_cents") is not None:
        price = etree.SubElement(vehicle, "price", type="quote", currency="USD")
        price.text = f"{int(fields['vehicle_price_cents']) / 100:.2f}"
    if fields.get("trade_in_make") or fields.get("trade_in_model"):
        trade = etree.SubElement(prospect, "vehicle", interest="trade-in", status="used")
        _text(trade, "year", fields.get("trade_in_year") or "")
        _text(trade, "make", fields.get("trade_in_make") or "")
        _text(trade, "model", fields.get("trade_in_model") or "")
        if fields.get("trade_in_mileage") is not None:
            _text(trade, "odometer", fields["trade_in_mileage"], status="original", units="mi")
    customer = etree.SubElement(prospect, "customer")
    contact = etree.SubElement(customer, "contact")
    named = False
    for part in ("first", "last"):
        if fields.get(f"{part}_name"):
            _text(contact, "name", fields[f"{part}_name"], part=part)
            named = True
    if not named:
        _text(contact, "name", "", part="full")
    reachable = False
    if fields.get("email"):
        _text(contact, "email", fields["email"])
        reachable = True
    if fields.get("phone") or not reachable:  # the DTD wants an e-mail or a phone
        _text(contact, "phone", fields.get("phone") or "", type="voice")
    if any(fields.get(k) for k in ("address", "city", "state", "zip")):
        address = etree.SubElement(contact, "address")
        _text(address, "street", fields.get("address") or "", line="1")
        _optional(address, "city", fields.get("city"))
        _optional(address, "regioncode", fields.get("state"))
        _optional(address, "postalcode", fields.get("zip"))
        _text(address, "country", "US")
    comments = _comments(fields)
    if comments:
        _text(customer, "comments", comments)
    vendor_element = etree.SubElement(prospect, "vendor")
    _text(vendor_element, "vendorname", vendor)
    vendor_contact = etree.SubElement(vendor_element, "contact")
    _text(vendor_contact, "name", vendor, part="full")
    _text(vendor_contact, "email", vendor_email)
    provider = etree.SubElement(prospect, "provider")
    _text(provider, "name", PROVIDER, part="full")
    root = etree.Element("adf")
    root.append(prospect)
    body = etree.tostring(root, pretty_print=True, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<?adf version="1.0"?>\n{body}'


def _comments(fields: Mapping[str, Any]) -> str:
    lines = []
    if fields.get("comments"):
        lines.append(str(fields["comments"]))
    if fields.get("timeframe"):
        lines.append(f"timeframe: {fields['timeframe']}")
    for name in sorted(fields):
        value = fields[name]
        if name in _PLACED or value in (None, "", [], {}):
            continue
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _text(parent: etree._Element, tag: str, value: Any, **attributes: str) -> etree._Element:
    element = etree.SubElement(parent, tag, **attributes)
    element.text = _NOT_XML_CHAR.sub("", str(value))
    return element


def _optional(parent: etree._Element, tag: str, value: Any) -> None:
    if value not in (None, ""):
        _text(parent, tag, value)
