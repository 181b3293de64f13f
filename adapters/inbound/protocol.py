"""What every inbound parser returns, and the small Protocol a parser implements.

Built-in parsers and plugins (entry-point group `exchange.adapters`) share this shape.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol, runtime_checkable

import msgspec


class ParsedBody(msgspec.Struct, frozen=True, kw_only=True):
    """A request body read into fields; nothing is validated yet."""

    fields: dict[str, Any]  # top-level field names; nested groups ("consent") are sub-dicts
    vertical_hint: str | None = None  # "auto_sales" for ADF documents


@runtime_checkable
class InboundParser(Protocol):
    """Turns a body of one or more media types into fields."""

    @property
    def media_types(self) -> Collection[str]: ...

    def parse(self, body: bytes, charset: str | None) -> ParsedBody: ...


class SourceError(Exception):
    """A source the exchange pulls from (a feed, a remote folder) could not be had or read;
    `message` says why, for the pull's events. `broken`: the connection itself is gone."""

    def __init__(self, message: str, *, broken: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.broken = broken
