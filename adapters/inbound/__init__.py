"""Inbound parsers: a request body (JSON, name-value pairs, XML, ADF) becomes a field dictionary.

They know formats only: validation, money and storage happen in `exchange`.
"""

from adapters.inbound.adf import parse_adf_prospects
from adapters.inbound.nesting import nest_dotted
from adapters.inbound.protocol import InboundParser, ParsedBody
from adapters.inbound.registry import (
    ENTRY_POINT_GROUP,
    Registry,
    default_registry,
    parse_lead_body,
    parsers_from_entry_points,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "InboundParser",
    "ParsedBody",
    "Registry",
    "default_registry",
    "nest_dotted",
    "parse_adf_prospects",
    "parse_lead_body",
    "parsers_from_entry_points",
]
