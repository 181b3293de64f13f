"""Decoding request bodies to text in a declared charset.

Every format reports an undecodable body the same way: the charset and the byte offset.
"""

from __future__ import annotations

import codecs

from exchange.errors import BadRequest, UnsupportedMediaType

# Codecs that turn escapes into arbitrary code points (lone surrogates included): not charsets.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "utf-7"})


def invalid_encoding(charset: str, offset: int) -> BadRequest:
    return BadRequest(
        f"the body is not valid {charset}: undecodable byte at offset {offset}",
        code="invalid_encoding",
    )


def unsupported_charset(charset: str, reason: str = "unknown charset") -> UnsupportedMediaType:
    return UnsupportedMediaType(f"unsupported charset {charset!r}: {reason}", code="unsupported_charset")


def check_charset(charset: str) -> None:
    """Refuse a charset label Python does not know as a text encoding."""
    try:
        name = codecs.lookup(charset).name
    except (LookupError, ValueError) as exc:  # ValueError: a label with a NUL in it
        raise unsupported_charset(charset) from exc
    if name in _NOT_CHARSETS:
        raise unsupported_charset(charset, "not a charset")


def check_ascii_compatible(charset: str) -> None:
    """Refuse charsets in which `&`, `=`, `+` and `%` are not their ASCII bytes (UTF-16…)."""
    check_charset(charset)
    probe = "&=+%az09"
    try:
        compatible = probe.encode(charset) == probe.encode("ascii")
    except (LookupError, UnicodeError):
        compatible = False
    if not compatible:
        raise unsupported_charset(charset, "a form body needs an ASCII-compatible charset")


def decode_text(body: bytes, charset: str, *, offset: int = 0) -> str:
    """Decode `body`; `offset` is where it starts in the request body, for the error."""
    check_charset(charset)
    try:
        return body.decode(charset)
    except LookupError as exc:  # a codec that exists but is bytes-to-bytes (base64, zlib…)
        raise unsupported_charset(charset, "not a text encoding") from exc
    except UnicodeDecodeError as exc:
        raise invalid_encoding(charset, offset + exc.start) from exc
    except UnicodeError as exc:
        raise BadRequest(f"the body cannot be decoded as {charset}: {exc}", code="invalid_encoding") from exc
