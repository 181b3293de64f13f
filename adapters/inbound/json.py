"""JSON lead bodies: one object whose keys are field names (dotted keys nest).

Decoded with msgspec; its error messages name the byte where the JSON breaks.
"""

from __future__ import annotations

from typing import Any

import msgspec

from adapters.inbound.encoding import decode_text
from adapters.inbound.nesting import nest_dotted
from adapters.inbound.protocol import ParsedBody
from exchange.errors import BadRequest

_UTF8_BOM = b"\xef\xbb\xbf"


class JsonParser:
    media_types: tuple[str, ...] = ("application/json",)

    def parse(self, body: bytes, charset: str | None) -> ParsedBody:
        document = decode_json(body, charset)
        if not isinstance(document, dict):
            raise BadRequest(f"a lead must be a JSON object, not {_json_kind(document)}", code="invalid_body")
        try:
            fields = nest_dotted(document)
        except RecursionError as exc:
            raise _too_deep() from exc
        return ParsedBody(fields=fields)


def decode_json(body: bytes, charset: str | None) -> Any:
    """Decode a JSON document; a UTF-8 byte order mark is tolerated."""
    offset = len(_UTF8_BOM) if body.startswith(_UTF8_BOM) else 0
    # Decoding first names the byte offset of bad text; msgspec's own message does not.
    text = decode_text(body[offset:], charset or "utf-8", offset=offset)
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise BadRequest(str(exc), code="malformed_json") from exc
    except RecursionError as exc:
        raise _too_deep() from exc


def _too_deep() -> BadRequest:
    return BadRequest("the JSON body is nested too deeply", code="invalid_body")


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


PARSER = JsonParser()
