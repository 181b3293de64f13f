"""Name-value pair bodies (`application/x-www-form-urlencoded`), as forms and lead vendors post.

Repeated names keep the last value; dotted names nest; the charset comes from the content type.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from adapters.inbound.encoding import check_ascii_compatible, invalid_encoding
from adapters.inbound.nesting import nest_dotted
from adapters.inbound.protocol import ParsedBody
from exchange.errors import BadRequest

_BLANKS = b" \t\r\n"


class FormParser:
    media_types: tuple[str, ...] = ("application/x-www-form-urlencoded",)

    def parse(self, body: bytes, charset: str | None) -> ParsedBody:
        return ParsedBody(fields=nest_dotted(parse_pairs(body, charset or "utf-8")))


def parse_pairs(body: bytes, charset: str = "utf-8") -> dict[str, str]:
    """Read `a=1&b=2` into a flat dict, last value winning for a repeated name."""
    check_ascii_compatible(charset)
    # Raw blanks at either end (a trailing newline from curl) are never part of an encoded value.
    offset = len(body) - len(body.lstrip(_BLANKS))
    pairs: dict[str, str] = {}
    for chunk in body.strip(_BLANKS).split(b"&"):
        start, offset = offset, offset + len(chunk) + 1
        raw_name, _, raw_value = chunk.partition(b"=")
        name = _decode_component(raw_name, charset, start)
        if name:
            pairs[name] = _decode_component(raw_value, charset, start + len(raw_name) + 1)
    return pairs


def _decode_component(raw: bytes, charset: str, offset: int) -> str:
    try:
        raw.decode(charset)  # unescaped bytes first, so the error names their exact offset
    except UnicodeDecodeError as exc:
        raise invalid_encoding(charset, offset + exc.start) from exc
    try:
        return unquote_to_bytes(raw.replace(b"+", b" ")).decode(charset)
    except UnicodeDecodeError as exc:
        raise BadRequest(
            f"the body is not valid {charset}: the percent-encoded text starting at offset "
            f"{offset} does not decode",
            code="invalid_encoding",
        ) from exc


PARSER = FormParser()
