"""Which parser reads which media type: the built-in ones plus plugins from entry points.

Plugins register under the entry-point group `exchange.adapters`; an entry whose object has
`media_types` and `parse` is an inbound parser, any other (an outbound adapter) is left alone.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType

from adapters.inbound import json, nvp, xml
from adapters.inbound.protocol import InboundParser, ParsedBody
from exchange.errors import BadRequest, UnsupportedMediaType

ENTRY_POINT_GROUP = "exchange.adapters"
BUILTIN_PARSERS: tuple[InboundParser, ...] = (json.PARSER, nvp.PARSER, xml.PARSER)
# Structured-syntax suffixes (RFC 6839): application/vnd.acme.lead+json reads as JSON.
_SUFFIXES = {"+json": "application/json", "+xml": "application/xml"}


class Registry:
    """An immutable map from media type to parser; later parsers override earlier ones."""

    def __init__(self, parsers: Iterable[InboundParser]) -> None:
        by_media_type: dict[str, InboundParser] = {}
        for parser in parsers:
            media_types = parser.media_types
            for media_type in [media_types] if isinstance(media_types, str) else media_types:
                by_media_type[media_type.strip().lower()] = parser
        self._by_media_type: Mapping[str, InboundParser] = MappingProxyType(by_media_type)

    @property
    def media_types(self) -> tuple[str, ...]:
        return tuple(self._by_media_type)

    def parser_for(self, media_type: str) -> InboundParser | None:
        parser = self._by_media_type.get(media_type)
        if parser is None:
            for suffix, base in _SUFFIXES.items():
                if media_type.endswith(suffix):
                    parser = self._by_media_type.get(base)
        return parser


def parsers_from_entry_points(
    found: Iterable[EntryPoint] | None = None,
) -> list[InboundParser]:
    """Load the group's entries and keep the inbound parsers (instances or modules)."""
    if found is None:
        found = entry_points(group=ENTRY_POINT_GROUP)
    parsers: list[InboundParser] = []
    for entry_point in found:
        # A plugin that fails to import fails loudly: a silently missing format is worse.
        loaded = entry_point.load()
        if isinstance(loaded, InboundParser) and not isinstance(loaded, type):
            parsers.append(loaded)
    return parsers


@functools.cache
def default_registry() -> Registry:
    """Built-ins, then installed plugins (which may take over a built-in media type)."""
    return Registry([*BUILTIN_PARSERS, *parsers_from_entry_points()])


def parse_lead_body(body: bytes, content_type: str | None, *, registry: Registry | None = None) -> ParsedBody:
    """Read a lead body by its content type into fields (and a vertical hint for ADF)."""
    registry = registry or default_registry()
    media_type, charset = split_content_type(content_type)
    parser = registry.parser_for(media_type) if media_type else None
    if parser is None:
        supported = ", ".join(registry.media_types)
        given = f"unsupported media type {media_type!r}" if media_type else "no content type"
        raise UnsupportedMediaType(
            f"{given}; send one of: {supported} (or a +json or +xml type)",
            code="unsupported_media_type",
        )
    if not body.strip():
        raise BadRequest("the body is empty", code="empty_body")
    return parser.parse(body, charset)


def split_content_type(content_type: str | None) -> tuple[str, str | None]:
    """`Application/JSON; charset="UTF-8"` → ("application/json", "utf-8"); other parameters go."""
    if not content_type:
        return "", None
    media_type, *parameters = content_type.split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip("\"'").strip().lower() or None
    return media_type.strip().lower(), charset
