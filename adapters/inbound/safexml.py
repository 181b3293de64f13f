"""The one place XML is parsed: no DTDs, no entities, no network, lxml's size limits.

A DOCTYPE or entity declaration is refused by a scan of the prolog before lxml sees the document.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from adapters.inbound.encoding import decode_text
from exchange.errors import BadRequest

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_XML_DECLARATION = re.compile(
    rb"<\?xml\s+version\s*=\s*[\"'][^\"']*[\"']"
    rb"(?:\s+encoding\s*=\s*[\"']([A-Za-z][A-Za-z0-9._:-]*)[\"'])?"
)
_REFUSED_DECLARATIONS = ("<!DOCTYPE", "<!ENTITY")
# libxml2 ends its messages with the position, which our message already leads with.
_TRAILING_POSITION = re.compile(r",? line \d+, column \d+$")
_NOT_LINE_BREAK = re.compile(r"[^\r\n]")


def parse_xml(body: bytes, charset: str | None = None) -> etree._Element:
    """Parse a document safely and return its root element."""
    if not body.strip():
        raise BadRequest("the body is empty", code="empty_body")
    text = _blank_prolog(_decode_document(body, charset))
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        huge_tree=False,
        load_dtd=False,
        dtd_validation=False,
        remove_comments=True,
        remove_pis=True,
        encoding="utf-8",
    )
    try:
        # surrogatepass: a lone surrogate reaches libxml2 as a bad character it reports.
        root = etree.fromstring(text.encode("utf-8", "surrogatepass"), parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        reason = _TRAILING_POSITION.sub("", exc.msg or "")
        raise BadRequest(
            f"malformed XML at line {line}, column {column}: {reason}", code="malformed_xml"
        ) from exc
    if root.getroottree().docinfo.doctype:
        raise _unsafe()  # the prolog scan should have caught it; never accept a DTD regardless
    return root


def local_name(element: etree._Element) -> str:
    """An element's name without its namespace, so `<adf xmlns="…">` reads as `adf`."""
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _decode_document(body: bytes, charset: str | None) -> str:
    """Decode as XML says: byte order mark, then the HTTP charset, then the declaration."""
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            return decode_text(body[len(bom) :], encoding, offset=len(bom))
    if charset:
        return decode_text(body, charset)
    if body.startswith(b"<\x00?\x00"):
        return decode_text(body, "utf-16-le")
    if body.startswith(b"\x00<\x00?"):
        return decode_text(body, "utf-16-be")
    match = _XML_DECLARATION.match(body)
    declared = match.group(1).decode("ascii") if match and match.group(1) else "utf-8"
    # Senders often label UTF-8 bytes "utf-16"; the ASCII declaration just read proves otherwise.
    if _codec_name(declared).startswith(("utf-16", "utf-32")):
        declared = "utf-8"
    return decode_text(body, declared)


def _codec_name(label: str) -> str:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return label.lower()  # decode_text reports the unknown charset


def _blank_prolog(text: str) -> str:
    """Refuse a DTD; blank out leading processing instructions, keeping lines and columns.

    Real ADF senders write `<?ADF VERSION "1.0"?>` or `<?XML VERSION “1.0”?>` before the root,
    which libxml2 refuses; the XML declaration was already used to decode the text.
    """
    pieces: list[str] = []
    kept_from = position = 0
    length = len(text)
    while True:
        # U+FEFF too: libxml2 skips a second byte order mark and would read a DTD after it.
        while position < length and text[position] in " \t\r\n\ufeff":
            position += 1
        if text.startswith("<?", position):
            end = text.find("?>", position + 2)
            if end < 0:
                break  # unterminated: lxml reports it with its line
            end += 2
            pieces.append(text[kept_from:position])
            pieces.append(_blank(text[position:end]))
            kept_from = position = end
        elif text.startswith("<!--", position):
            end = text.find("-->", position + 4)
            if end < 0:
                break
            position = end + 3
        elif text[position : position + 9].upper().startswith(_REFUSED_DECLARATIONS):
            raise _unsafe()
        else:
            break
    pieces.append(text[kept_from:])
    return "".join(pieces)


def _unsafe() -> BadRequest:
    return BadRequest("XML with a DOCTYPE or entity declarations is refused", code="unsafe_xml")


def _blank(segment: str) -> str:
    return _NOT_LINE_BREAK.sub(" ", segment)
