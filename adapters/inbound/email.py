"""One e-mail message (RFC 5322 / MIME bytes) read into the leads it carries.

Lead mail comes in four shapes: ADF XML (in the body or attached), CSV attachments, `Key: Value` lines
in a plain-text body, or an HTML body (a label/value table or the same lines). When a message holds
several, the most structured wins: ADF, then CSV, then plain text, then HTML, because a summary body
beside an attachment would otherwise count every lead twice.

This module only reads: validation, verticals and storage belong to the caller (the
`POST /v1/inbound/email` endpoint and the SMTP listener). It never raises for input: what cannot be
read becomes a message error or a lead error.

Limits are all-or-nothing: a message over any limit yields no leads, only an error naming the limit,
so the sender can resend it (split) without any of its leads being taken twice.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any, Literal

import lxml.html
import msgspec
from lxml import etree

from adapters.inbound.adf import parse_adf_prospects
from adapters.inbound.encoding import check_charset
from exchange.errors import ExchangeError

LeadKind = Literal["adf", "lines", "html", "csv"]
_MIB = 1024 * 1024


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """Bounds on the work one message may cause; real lead mail stays far below them.

    Parts count every MIME node, containers included; sizes are decoded bytes of the parts that are
    read (text, XML, CSV), so a large PDF brochure beside a lead does not make the message fail.
    """

    max_message_bytes: int = 32 * _MIB  # raw bytes; 20 MiB of content base64-encoded fits
    max_parts: int = 100
    max_depth: int = 10
    max_part_bytes: int = 5 * _MIB
    max_total_bytes: int = 20 * _MIB
    max_leads: int = 1000


DEFAULT_LIMITS = Limits()


class MessageLead(msgspec.Struct, frozen=True, kw_only=True):
    """One lead found in a message; with an `error` its fields are partial and it is not a lead yet."""

    fields: dict[str, Any]
    source: str  # "body:adf", "attachment:leads.csv#row3", "body:lines", "body:html"…
    kind: LeadKind
    error: str | None = None


class ParsedMessage(msgspec.Struct, frozen=True, kw_only=True):
    """What a message says about itself and the leads it carries; `errors` are message-level."""

    message_id: str | None = None
    sender: str | None = None
    subject: str | None = None
    leads: list[MessageLead] = msgspec.field(default_factory=list)
    errors: list[str] = msgspec.field(default_factory=list)


# ----------------------------------------------------------------------------------------------------
# Labels: every spelling senders use for a field, keyed by its compact form (lowercase ASCII letters
# and digits only), so "E-mail", "EMAIL" and "e mail" are one key. `full_name` is split by lead_fields.

FULL_NAME = "full_name"
LABELS: dict[str, str] = {
    **dict.fromkeys(["firstname", "first", "fname", "givenname", "forename"], "first_name"),
    **dict.fromkeys(["lastname", "last", "lname", "surname", "familyname"], "last_name"),
    **dict.fromkeys(["name", "fullname", "customername", "contactname", "yourname"], FULL_NAME),
    **dict.fromkeys(["email", "emailaddress", "mail", "youremail", "emailid"], "email"),
    **dict.fromkeys(
        [
            "phone",
            "phonenumber",
            "phoneno",
            "telephone",
            "telephonenumber",
            "tel",
            "cell",
            "cellphone",
            "cellnumber",
            "mobile",
            "mobilephone",
            "mobilenumber",
            "homephone",
            "dayphone",
            "primaryphone",
        ],
        "phone",
    ),
    **dict.fromkeys(
        ["address", "streetaddress", "street", "address1", "addressline1", "homeaddress", "addr"],
        "address",
    ),
    **dict.fromkeys(["city", "town"], "city"),
    **dict.fromkeys(["state", "province", "region", "stateprovince", "stateorprovince"], "state"),
    **dict.fromkeys(
        ["zip", "zipcode", "postalcode", "postcode", "postal", "zippostalcode", "zippostal"], "zip"
    ),
    **dict.fromkeys(["country"], "country"),
    **dict.fromkeys(
        ["comments", "comment", "message", "notes", "note", "remarks", "questions", "inquiry", "enquiry"],
        "comments",
    ),
    **dict.fromkeys(["ip", "ipaddress"], "ip_address"),
    **dict.fromkeys(["dob", "dateofbirth", "birthdate"], "date_of_birth"),
}
_SNAKE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,63}")
# Fields one of which makes free text (lines, HTML) a lead rather than an ordinary e-mail.
_CONTACT_FIELDS = frozenset({"first_name", "last_name", "email", "phone"})
# Forwarded mail repeats its headers in the body; they are not lead fields.
_HEADER_LABELS = frozenset(
    {"from", "to", "cc", "bcc", "sent", "date", "subject", "reply_to", "re", "fw", "fwd"}
)
_MAX_LABEL_WORDS = 4


def canonical_label(label: str) -> str | None:
    """The field a label names: a known spelling, else its snake_case form, else None.

    "Phone Number" → "phone", "Vehicle Year" → "vehicle_year", "Name" → "full_name" (to split),
    "2nd #" → None. Shared by the e-mail, FTP and batch importers for CSV headers.
    """
    ascii_text = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode("ascii").lower()
    compact = re.sub(r"[^a-z0-9]", "", ascii_text)
    if compact in LABELS:
        return LABELS[compact]
    snake = re.sub(r"[^a-z0-9]+", "_", ascii_text).strip("_")
    return snake if _SNAKE_NAME.fullmatch(snake) else None


def lead_fields(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Labelled values → canonical fields; blank values are left out and a field's first value wins.

    A full name fills only the first and last name the sender did not give, split at its first space.
    """
    fields: dict[str, str] = {}
    for label, value in pairs:
        name = canonical_label(label)
        value = value.strip()
        if name is not None and value:
            fields.setdefault(name, value)
    full_name = fields.pop(FULL_NAME, None)
    if full_name:
        first, _, last = full_name.partition(" ")
        for name, part in (("first_name", first), ("last_name", last.strip())):
            if part:
                fields.setdefault(name, part)
    return fields


def labelled_fields(text: str, *, html: bool = False) -> dict[str, str]:
    """`Key: Value` lines (in HTML, label/value table rows too) → canonical fields, as a
    message's body is read; {} for text that holds none (a feed item's summary, say)."""
    return lead_fields(_html_pairs(text) if html else _line_pairs(text))


# ----------------------------------------------------------------------------------------------------
# The message and its parts.


class _OverLimit(Exception):
    """A limit was exceeded; the message yields no leads."""


class _Part(msgspec.Struct, kw_only=True):
    """A leaf part that may hold leads, decoded once."""

    source: str  # "body" or "attachment:<name>"
    media_type: str
    extension: str
    attachment: bool
    data: bytes
    charset: str | None
    text: str

    @property
    def is_xml(self) -> bool:
        return self.media_type in _XML_TYPES or self.media_type.endswith("+xml") or self.extension in _XML_EXT

    @property
    def is_csv(self) -> bool:
        return self.media_type in _CSV_TYPES or self.extension == ".csv"


_XML_TYPES = frozenset({"text/xml", "application/xml"})
_XML_EXT = frozenset({".xml", ".adf"})
_CSV_TYPES = frozenset({"text/csv", "application/csv", "text/comma-separated-values"})
_READABLE_EXT = frozenset({*_XML_EXT, ".csv", ".txt"})
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def parse_message(raw: bytes, *, limits: Limits = DEFAULT_LIMITS) -> ParsedMessage:
    """Read one raw message into its leads; never raises for what the message contains."""
    if len(raw) > limits.max_message_bytes:
        return ParsedMessage(errors=[_over("the message", limits.max_message_bytes, "max_message_bytes")])
    if not raw.strip():
        return ParsedMessage(errors=["the message is empty"])
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
    except RecursionError:
        return ParsedMessage(errors=[_too_deep(limits)])
    except Exception as exc:  # the parser is lenient, but hostile input must not escape as a crash
        return ParsedMessage(errors=[f"the message cannot be read ({type(exc).__name__})"])
    envelope = {
        "message_id": _header_text(message, "Message-ID"),
        "sender": _sender(message),
        "subject": _header_text(message, "Subject"),
    }
    try:
        leads, errors = _leads_from_parts(_read_parts(message, limits), limits)
    except _OverLimit as exc:
        return ParsedMessage(**envelope, errors=[str(exc)])
    except RecursionError:
        return ParsedMessage(**envelope, errors=[_too_deep(limits)])
    if not leads and not errors:
        errors.append("no lead found in the message")
    return ParsedMessage(**envelope, leads=leads, errors=errors)


def _too_deep(limits: Limits) -> str:
    return f"the message nests deeper than {limits.max_depth} levels (limit max_depth)"


def _over(what: str, limit: int, name: str) -> str:
    return f"{what} is larger than {limit} bytes (limit {name}={limit})"


def _header_text(message: Message, name: str) -> str | None:
    try:
        value = message.get(name)
        text = str(value).strip() if value is not None else ""
    except Exception:  # header parsing bugs on hostile input: a missing header, not a crash
        return None
    return _unescape_bytes(text) or None


def _sender(message: Message) -> str | None:
    """The first From address (`ada@example.com`), not its display name."""
    try:
        addresses = getattr(message.get("From"), "addresses", ())
        address = addresses[0].addr_spec if addresses else ""
    except Exception:
        return None
    return _unescape_bytes(address) if address and address != "<>" else None


def _read_parts(message: Message, limits: Limits) -> list[_Part]:
    """The readable leaf parts, in message order, checking the structure and size limits."""
    parts: list[_Part] = []
    total = 0
    for index, leaf in enumerate(_leaves(message, limits), start=1):
        part = _readable_part(leaf, index, limits)
        if part is None:
            continue
        total += len(part.data)
        if total > limits.max_total_bytes:
            raise _OverLimit(
                _over("the message's decoded content", limits.max_total_bytes, "max_total_bytes")
            )
        parts.append(part)
    return parts


def _leaves(message: Message, limits: Limits) -> list[Message]:
    """Leaf parts depth first; containers (multipart, message/rfc822) count as parts too."""
    leaves: list[Message] = []
    stack: list[tuple[Message, int]] = [(message, 0)]
    count = 0
    while stack:
        part, depth = stack.pop()
        count += 1
        if count > limits.max_parts:
            raise _OverLimit(f"the message has more than {limits.max_parts} parts (limit max_parts)")
        if depth > limits.max_depth:
            raise _OverLimit(_too_deep(limits))
        # is_multipart, not get_payload: a leaf's payload is decoded with its charset label,
        # which may name a codec that fails (idna, a NUL in the label).
        if part.is_multipart():
            children = part.get_payload()
            stack.extend((child, depth + 1) for child in reversed(children) if isinstance(child, Message))
        else:
            leaves.append(part)
    return leaves


def _readable_part(leaf: Message, index: int, limits: Limits) -> _Part | None:
    """Decode a leaf (quoted-printable, base64) if it may hold leads; other leaves are skipped."""
    try:
        media_type = leaf.get_content_type().lower()
        filename = leaf.get_filename()
        attachment = leaf.get_content_disposition() == "attachment"
        charset = leaf.get_content_charset()
    except Exception:
        return None
    extension = _extension(filename)
    if not (media_type.startswith("text/") or media_type in (*_XML_TYPES, *_CSV_TYPES)):
        if extension not in _READABLE_EXT:
            return None
    try:
        data = leaf.get_payload(decode=True) or b""
    except Exception:
        data = b""
    if len(data) > limits.max_part_bytes:
        raise _OverLimit(_over(f"part {index}", limits.max_part_bytes, "max_part_bytes"))
    name = _CONTROL.sub("", filename or "")[:100] or f"part{index}"
    return _Part(
        source=f"attachment:{name}" if attachment or filename else "body",
        media_type=media_type,
        extension=extension,
        attachment=attachment,
        data=data,
        charset=charset,
        text=decode_text(data, charset),
    )


def _extension(filename: str | None) -> str:
    if not filename or "." not in filename:
        return ""
    return "." + filename.rsplit(".", 1)[1].strip().lower()


# ----------------------------------------------------------------------------------------------------
# Text: the declared charset when it decodes, else UTF-8 with any undecodable byte read as Latin-1.

_TEXT_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
_ESCAPED_BYTE = re.compile(r"[\udc80-\udcff]")


def decode_text(data: bytes, charset: str | None) -> str:
    """Bytes to text without failing: senders mislabel charsets and mix Latin-1 into UTF-8."""
    for bom, codec in _TEXT_BOMS:
        if data.startswith(bom):
            data = data[len(bom) :]
            charset = codec
            break
    if charset and _is_charset(charset):
        try:
            return data.decode(charset)
        except (UnicodeError, LookupError):
            pass
    return _unescape_bytes(data.decode("utf-8", "surrogateescape"))


def _unescape_bytes(text: str) -> str:
    """Undecodable bytes (kept as lone surrogates by `surrogateescape`) read as Latin-1 characters."""
    return _ESCAPED_BYTE.sub(lambda match: chr(ord(match.group()) - 0xDC00), text)


def _is_charset(charset: str) -> bool:
    try:
        check_charset(charset)
    except ExchangeError:
        return False
    return True


# ----------------------------------------------------------------------------------------------------
# Choosing what to read.


def _leads_from_parts(parts: list[_Part], limits: Limits) -> tuple[list[MessageLead], list[str]]:
    """ADF if any part is ADF; else CSV attachments; else the plain-text body; else the HTML body.

    A part that looks like ADF but does not parse still wins: its text must not be read as lines.
    """
    adf_parts = [part for part in parts if _looks_like_adf(part)]
    if adf_parts:
        return _checked(_adf_leads(adf_parts), limits)
    leads, errors = _checked(_csv_parts_leads([p for p in parts if p.is_csv], limits), limits)
    if leads:
        return leads, errors
    for kind, media_type in (("lines", "text/plain"), ("html", "text/html")):
        for part in parts:
            if part.attachment or part.media_type != media_type:
                continue
            fields = lead_fields(_line_pairs(part.text) if kind == "lines" else _html_pairs(part.text))
            if _CONTACT_FIELDS.intersection(fields):
                return [MessageLead(fields=fields, source=f"body:{kind}", kind=kind)], errors
    return [], errors


def _checked(
    found: tuple[list[MessageLead], list[str]], limits: Limits
) -> tuple[list[MessageLead], list[str]]:
    if len(found[0]) > limits.max_leads:
        raise _OverLimit(_too_many_leads(limits))
    return found


def _too_many_leads(limits: Limits) -> str:
    return f"the message carries more than {limits.max_leads} leads (limit max_leads)"


# ----------------------------------------------------------------------------------------------------
# ADF, read by the shared ADF parser (safexml: no DTD, no entities, no network).

_ADF_ELEMENT = re.compile(r"<\s*adf[\s>/]", re.IGNORECASE)
_ADF_START = re.compile(r"<\?xml|<\?adf|<!doctype|<\s*adf[\s>/]", re.IGNORECASE)
_ADF_END = re.compile(r"</\s*adf\s*>", re.IGNORECASE)


def _looks_like_adf(part: _Part) -> bool:
    if part.is_csv or part.media_type == "text/html":
        return False
    return (part.is_xml or part.media_type == "text/plain") and _ADF_ELEMENT.search(part.text) is not None


def _adf_leads(parts: list[_Part]) -> tuple[list[MessageLead], list[str]]:
    """One lead per prospect; the same document sent twice (body and attachment) counts once."""
    leads: list[MessageLead] = []
    errors: list[str] = []
    seen: set[str] = set()
    for part in parts:
        source = "body:adf" if part.source == "body" else part.source
        document = part.text if part.is_xml else _adf_snippet(part.text)
        if document.strip() in seen:
            continue
        seen.add(document.strip())
        try:
            prospects = _read_adf(part, document)
        except (ExchangeError, ValueError, etree.LxmlError) as exc:
            errors.append(f"{source}: {getattr(exc, 'message', None) or exc}")
            continue
        for number, fields in enumerate(prospects, start=1):
            where = f"{source}#prospect{number}" if len(prospects) > 1 else source
            leads.append(MessageLead(fields=fields, source=where, kind="adf"))
    return leads, errors


def _read_adf(part: _Part, document: str) -> list[dict[str, Any]]:
    """XML parts as bytes first (their declaration names the charset), else the decoded text."""
    if part.is_xml:
        try:
            return parse_adf_prospects(part.data, part.charset)
        except ExchangeError as exc:
            if exc.code not in ("invalid_encoding", "unsupported_charset"):
                raise
    return parse_adf_prospects(document.encode("utf-8", "surrogatepass"), "utf-8")


def _adf_snippet(text: str) -> str:
    """The ADF document inside a plain-text body, without the words around it."""
    start = _ADF_START.search(text)
    ends = list(_ADF_END.finditer(text))
    return text[start.start() if start else 0 : ends[-1].end() if ends else len(text)]


# ----------------------------------------------------------------------------------------------------
# Key: Value lines. A label is at most four words; "http://…" and "at 10:30" are not labels.

_MAX_LABEL_CHARS = 60
# `(?<!\s)`: the blanks are tried from the start of their run only, so a long run costs its length.
_LINK_SUFFIX = re.compile(r"(?<!\s)\s*<(?:mailto|tel):[^>]*>")


def _line_pairs(text: str) -> list[tuple[str, str]]:
    """Labelled lines, up to a signature; unlabelled lines continue the comments they follow."""
    pairs: list[list[str]] = []
    for line in text.splitlines():
        if line.rstrip() == "--":
            break
        labelled = _split_line(line)
        if labelled and _is_line_label(labelled[0]):
            pairs.append([labelled[0], _LINK_SUFFIX.sub("", labelled[1])])
        elif pairs and line.strip() and canonical_label(pairs[-1][0]) == "comments":
            pairs[-1][1] = f"{pairs[-1][1]}\n{line.strip()}".strip()
    return [(label, value) for label, value in pairs]


def _split_line(line: str) -> tuple[str, str] | None:
    """`> **First Name:** Ada` → ("First Name", "Ada"): quote marks, bullets and blanks around the
    label and the value go. String operations, not a regex: a regex's backtracking over a long
    run of blanks took seconds per line."""
    head, colon, value = line.partition(":")
    if not colon or value.startswith("//"):
        return None
    label = head.lstrip(" \t>*").rstrip(" \t")
    if not 1 <= len(label) <= _MAX_LABEL_CHARS:
        return None
    return label, value.strip(" \t*")


def _is_line_label(label: str) -> bool:
    name = canonical_label(label)
    return name is not None and name not in _HEADER_LABELS and len(label.split()) <= _MAX_LABEL_WORDS


# ----------------------------------------------------------------------------------------------------
# HTML: label/value table rows, then `Label: value` lines of the rendered text.

_HTML_PARSER = lxml.html.HTMLParser(
    encoding="utf-8", no_network=True, remove_comments=True, remove_pis=True, remove_blank_text=False
)
_BLOCKS = frozenset(
    {"p", "div", "br", "tr", "td", "th", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
)


def _html_pairs(text: str) -> list[tuple[str, str]]:
    try:
        root = lxml.html.document_fromstring(text.encode("utf-8", "surrogatepass"), parser=_HTML_PARSER)
    except (etree.LxmlError, ValueError):
        return []
    etree.strip_elements(root, "script", "style", "head", "title", with_tail=False)
    pairs = list(_table_pairs(root))
    return pairs + _line_pairs(_rendered_text(root))


def _table_pairs(root: etree._Element) -> Iterator[tuple[str, str]]:
    """`<tr><td>First Name</td><td>Ada</td></tr>` (or `<th>` for the label) → ("First Name", "Ada")."""
    for row in root.iter("tr"):
        cells = [cell for cell in row if cell.tag in ("td", "th")]
        if len(cells) < 2:
            continue
        label = _squash(cells[0].text_content()).rstrip(":").strip()
        if label and _is_line_label(label):
            yield label, cells[1].text_content().strip()


def _rendered_text(root: etree._Element) -> str:
    """The text as a reader sees it: a line break around every block and at every `<br>`.

    Read by walking the tree, not by editing it: lxml refuses to set text holding the control
    characters its HTML parser lets through."""
    pieces: list[str] = []
    for event, element in etree.iterwalk(root, events=("start", "end")):
        is_block = isinstance(element.tag, str) and element.tag in _BLOCKS
        if event == "start":
            if is_block:
                pieces.append("\n")
            if isinstance(element.tag, str):  # a comment's or PI's own text is not shown
                pieces.append(element.text or "")
        else:
            if is_block:
                pieces.append("\n")
            if element is not root:
                pieces.append(element.tail or "")
    return "".join(pieces)


def _squash(text: str) -> str:
    return " ".join(text.split())


# ----------------------------------------------------------------------------------------------------
# CSV attachments: a header row mapped through the label table, then one lead per row.


def _csv_parts_leads(parts: list[_Part], limits: Limits) -> tuple[list[MessageLead], list[str]]:
    leads: list[MessageLead] = []
    errors: list[str] = []
    for part in parts:
        error = _csv_leads(part, leads, limits)
        if error:
            errors.append(error)
    return leads, errors


def _csv_leads(part: _Part, leads: list[MessageLead], limits: Limits) -> str | None:
    """Append the part's rows to `leads`; a broken row is a lead with an error, the rest are read.

    Returns a message error when the part has no usable header.
    """
    lines = re.split(r"\r\n|\r|\n", part.text.lstrip("\ufeff"))
    delimiter = _delimiter(lines)
    reader = _CsvRecords(lines, delimiter)
    header: list[str | None] | None = None
    row = 0
    for cells, problem in reader:
        if not any(cell.strip() for cell in cells):
            continue
        if header is None:
            header = [canonical_label(cell) for cell in cells]
            if not any(canonical_label(cell.strip()) in LABELS.values() for cell in cells):
                return f"{part.source}: the first row names no known field, so it is not a header"
            reader.width = len(header)
            continue
        row += 1
        if len(leads) >= limits.max_leads:
            raise _OverLimit(_too_many_leads(limits))
        leads.append(_csv_lead(header, cells, problem, f"{part.source}#row{row}", row))
    if header is None:
        return f"{part.source}: the CSV file is empty"
    return None


def _csv_lead(
    header: list[str | None], cells: list[str], problem: str | None, source: str, row: int
) -> MessageLead:
    pairs = [(name, value) for name, value in zip(header, cells, strict=False) if name is not None]
    fields = lead_fields(pairs)
    error = None
    if problem:
        error = f"row {row}: {problem}"
    elif len(cells) != len(header):
        error = f"row {row} has {len(cells)} columns, the header has {len(header)}"
    return MessageLead(fields=fields, source=source, kind="csv", error=error)


def _delimiter(lines: list[str]) -> str:
    """Comma, unless the first line has more semicolons or tabs (European and TSV exports)."""
    first = next((line for line in lines if line.strip()), "")
    return max((",", ";", "\t"), key=first.count) if first.count(",") == 0 else ","


class _CsvRecords:
    """Records of physical lines, each with its problem (None when it reads cleanly).

    A value may span lines inside quotes, but a quote that never closes would swallow the rest of the
    file: a record only spans lines when a later line closes the quote and the joined record has the
    header's width; otherwise the line alone is a broken record and reading resumes on the next line.
    """

    def __init__(self, lines: list[str], delimiter: str) -> None:
        self.lines = lines
        self.delimiter = delimiter
        self.width: int | None = None
        self.odd = [line.count('"') % 2 == 1 for line in lines]
        self.closing: list[int | None] = [None] * len(lines)
        following: int | None = None
        for index in range(len(lines) - 1, -1, -1):
            self.closing[index] = following
            if self.odd[index]:
                following = index

    def __iter__(self) -> Iterator[tuple[list[str], str | None]]:
        index = 0
        while index < len(self.lines):
            cells, problem, index = self._record(index)
            yield cells, problem

    def _record(self, start: int) -> tuple[list[str], str | None, int]:
        line = self.lines[start]
        if self.odd[start]:
            end = self.closing[start]
            if end is not None:
                cells = self._cells("\n".join(self.lines[start : end + 1]))
                if cells is not None and (self.width is None or len(cells) == self.width):
                    return cells, None, end + 1
            return self._cells(line) or [line], "a quoted value is never closed", start + 1
        cells = self._cells(line)
        if cells is None:
            return [line], "the row cannot be read as CSV", start + 1
        return cells, None, start + 1

    def _cells(self, text: str) -> list[str] | None:
        """The cells of one record, or None when the text is not exactly one record."""
        try:
            rows = list(csv.reader(io.StringIO(text), delimiter=self.delimiter))
        except csv.Error:
            return None
        if not rows:
            return []
        return rows[0] if len(rows) == 1 else None
