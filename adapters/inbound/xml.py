"""XML lead bodies: a `<lead>` whose child elements are fields, or an ADF `<adf>` document.

Nested elements become nested dicts, dotted element names nest too; leaves give their stripped text.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from adapters.inbound.adf import prospects_from_root
from adapters.inbound.nesting import nest_dotted
from adapters.inbound.protocol import ParsedBody
from adapters.inbound.safexml import local_name, parse_xml
from exchange.errors import BadRequest


class XmlParser:
    media_types: tuple[str, ...] = ("application/xml", "text/xml")

    def parse(self, body: bytes, charset: str | None) -> ParsedBody:
        root = parse_xml(body, charset)
        name = local_name(root).lower()
        if name == "adf":
            # One lead per request: the first prospect (parse_adf_prospects reads them all).
            return ParsedBody(fields=prospects_from_root(root)[0], vertical_hint="auto_sales")
        if name != "lead":
            raise BadRequest(
                f"an XML lead's root element is <lead> (or <adf>), not <{local_name(root)}>",
                code="invalid_body",
            )
        return ParsedBody(fields=nest_dotted(element_fields(root)))


def element_fields(element: etree._Element) -> dict[str, Any]:
    """Child elements by local name; a repeated element keeps its last value, as forms do."""
    fields: dict[str, Any] = {}
    for child in element:
        name = local_name(child)
        if not name:
            continue
        if len(child):
            fields[name] = element_fields(child)
        else:
            fields[name] = "".join(child.itertext()).strip()
    return fields


PARSER = XmlParser()
