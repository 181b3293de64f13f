"""A stand-in for a third-party inbound parser package, loaded through a real EntryPoint.

It reads `text/plain` bodies of `name: value` lines.
"""

from __future__ import annotations

from adapters.inbound import ParsedBody


class KeyValueLinesParser:
    media_types: tuple[str, ...] = ("text/plain",)

    def parse(self, body: bytes, charset: str | None) -> ParsedBody:
        fields: dict[str, str] = {}
        for line in body.decode(charset or "utf-8").splitlines():
            name, _, value = line.partition(":")
            fields[name.strip()] = value.strip()
        return ParsedBody(fields=fields)


PARSER = KeyValueLinesParser()
# An outbound adapter sharing the entry-point group: no media_types, so not an inbound parser.
OUTBOUND_ADAPTER = object()
