"""Delivery bodies: lead fields under a buyer's names (the mapping), encoded as JSON, form or XML.

Also the save-time check of a mapping, and the masking of its secrets for the delivery audit.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote, quote_plus, urlencode

import msgspec
from lxml import etree

from exchange.errors import field_invalid
from exchange.types import PERSONAL_FIELDS

BodyFormat = Literal["json", "form", "xml"]

CONTENT_TYPES: dict[str, str] = {
    "json": "application/json",
    "form": "application/x-www-form-urlencoded",
    "xml": "application/xml",
}
MASK = "***"
MIN_SECRET_LENGTH = 4

# A canonical or vertical field name, dotted for a nested one (`consent.trustedform_cert_url`).
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# Element names we write: ASCII, no namespace prefix (a colon would need a declaration).
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
_NOT_XML_NAME_CHAR = re.compile(r"[^A-Za-z0-9._-]")
# Characters XML 1.0 cannot carry at all, even escaped.
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MISSING = object()


def build_body(
    format: BodyFormat, fields: Mapping[str, Any], mapping: Mapping[str, str] | None
) -> tuple[bytes, str]:
    """The body a buyer receives and its content type.

    With a mapping, each buyer name takes a field's value (omitted when the lead lacks it) or
    its `=literal`; without one, every field goes under its own name. Empty values are left out.
    """
    values = _without_none(msgspec.to_builtins(select_fields(fields, mapping)))
    if format == "json":
        return msgspec.json.encode(values), CONTENT_TYPES["json"]
    if format == "form":
        pairs = [pair for name, value in values.items() for pair in _form_pairs(name, value)]
        return urlencode(pairs).encode("ascii"), CONTENT_TYPES["form"]
    if format == "xml":
        root = etree.Element("lead")
        for name, value in values.items():
            _append_xml(root, _xml_name(name), value)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8"), CONTENT_TYPES["xml"]
    raise ValueError(f"unknown body format {format!r}")


def select_fields(fields: Mapping[str, Any], mapping: Mapping[str, str] | None) -> dict[str, Any]:
    """Buyer name → value, as the mapping says (or every field under its own name)."""
    if mapping is None:
        return dict(fields)
    selected: dict[str, Any] = {}
    for buyer_name, target in mapping.items():
        if target.startswith("="):
            selected[buyer_name] = target[1:]
            continue
        value = _lookup(fields, target)
        if value is not _MISSING:
            selected[buyer_name] = value
    return selected


def check_mapping(
    mapping: Mapping[str, str] | None,
    *,
    personal_allowed: bool,
    field: str,
    format: BodyFormat | None = None,
) -> None:
    """At save time: refuse (422) a target that is neither a field name nor `=literal`, a
    personal field in a ping's mapping, and a buyer name XML cannot carry in an XML body."""
    for buyer_name, target in (mapping or {}).items():
        where = f"{field}.{buyer_name}"
        if not buyer_name.strip():
            raise field_invalid(where, "invalid_mapping", "a buyer field name cannot be empty")
        if format == "xml" and not _XML_NAME.fullmatch(buyer_name):
            raise field_invalid(
                where,
                "invalid_mapping",
                f"{buyer_name!r} is not a valid XML element name (letters, digits, '_', '-', '.')",
            )
        if target.startswith("="):
            continue
        if not _FIELD_NAME.fullmatch(target):
            raise field_invalid(
                where,
                "invalid_mapping",
                f"{target!r} is neither a field name nor an =literal",
            )
        if not personal_allowed and any(part in PERSONAL_FIELDS for part in target.split(".")):
            raise field_invalid(
                where,
                "personal_data_in_ping",
                f"a ping carries no personal data, and {target!r} is personal",
            )


def literal_secrets(mapping: Mapping[str, str] | None) -> list[str]:
    """The `=literal` values long enough to be credentials (API keys, passwords)."""
    return [
        target[1:]
        for target in (mapping or {}).values()
        if target.startswith("=") and len(target) - 1 >= MIN_SECRET_LENGTH
    ]


def mask(text: str, secrets: Iterable[str]) -> str:
    """`text` with every secret, as written in any of our body formats, replaced by `***`."""
    spellings = {
        spelling
        for secret in secrets
        if len(secret) >= MIN_SECRET_LENGTH
        for spelling in _spellings(secret)
        if spelling
    }
    # Longest first, so a secret containing another is masked whole.
    for spelling in sorted(spellings, key=len, reverse=True):
        text = text.replace(spelling, MASK)
    return text


def _spellings(secret: str) -> set[str]:
    return {
        secret,
        quote_plus(secret),
        quote(secret, safe=""),
        html.escape(secret, quote=False),
        msgspec.json.encode(secret).decode()[1:-1],
    }


def _lookup(fields: Mapping[str, Any], target: str) -> Any:
    if target in fields:
        return fields[target]
    value: Any = fields
    for part in target.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value if item is not None]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _form_pairs(name: str, value: Any) -> list[tuple[str, str]]:
    """Nested groups flatten with dots (`consent.text`); a list repeats its name."""
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _form_pairs(f"{name}.{key}", item)]
    if isinstance(value, list):
        return [pair for item in value for pair in _form_pairs(name, item)]
    return [(name, _text(value))]


def _append_xml(parent: etree._Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            _append_xml(parent, name, item)
        return
    element = etree.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _append_xml(element, _xml_name(str(key)), item)
    else:
        element.text = _NOT_XML_CHAR.sub("", _text(value))


def _xml_name(name: str) -> str:
    """Mapped names were checked at save time; a lead's own odd names are made writable."""
    if _XML_NAME.fullmatch(name):
        return name
    cleaned = _NOT_XML_NAME_CHAR.sub("_", name)
    return cleaned if _XML_NAME.fullmatch(cleaned) else f"_{cleaned}"
