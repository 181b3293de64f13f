"""Fuzzed e-mail messages: any bytes give a ParsedMessage (leads and errors), never an exception,
in bounded time; a message over a limit gives no leads at all.

Messages are built as MIME trees with odd shapes (nested and unclosed multiparts, boundaries that
prefix each other, message/rfc822 parts), charset labels, transfer encodings (some corrupt) and
attachments carrying ADF, CSV, `Key: Value` lines or HTML, then mutated as bytes.
"""

from __future__ import annotations

import base64
import quopri
from email.message import EmailMessage

from hypothesis import example, given
from hypothesis import strategies as st

from adapters.inbound.email import Limits, ParsedMessage, labelled_fields, parse_message
from tests.adapters.test_fuzz_parsers import adf_documents, texts
from tests.fuzz_profile import CHARSET_LABELS, fuzz, mutated, output_size

LABELS = (
    "First Name",
    "Last Name",
    "Name",
    "E-mail",
    "Email",
    "Phone",
    "Zip",
    "Comments",
    "Vehicle Year",
    "2nd #",
)


def check_message(raw: bytes, limits: Limits | None = None) -> ParsedMessage:
    parsed = parse_message(raw) if limits is None else parse_message(raw, limits=limits)
    assert isinstance(parsed, ParsedMessage)
    limits = limits or Limits()
    assert len(parsed.leads) <= limits.max_leads
    assert all(isinstance(error, str) and error for error in parsed.errors)
    if any("(limit " in error for error in parsed.errors):
        assert parsed.leads == []  # all or nothing: a resent, split message takes no lead twice
    for lead in parsed.leads:
        assert all(isinstance(name, str) for name in lead.fields)
        assert lead.error is None or lead.error
    assert output_size([lead.fields for lead in parsed.leads]) <= 4 * len(raw) + 300
    return parsed


# ---------------------------------------------------------------------------------------------
# Payloads a lead e-mail carries


@st.composite
def csv_payloads(draw: st.DrawFn) -> str:
    delimiter = draw(st.sampled_from((",", ";", "\t")))
    cells = (
        st.sampled_from(('"', '""', 'a"b', '"quoted, with comma"', "line\nbreak", "=1+1", "x" * 3000)) | texts
    )
    header = draw(st.lists(st.sampled_from(LABELS) | texts, max_size=6))
    rows = draw(st.lists(st.lists(cells, max_size=8), max_size=6))
    lines = [delimiter.join(header)] + [delimiter.join(row) for row in rows]
    return draw(st.sampled_from(("", "\ufeff"))) + draw(st.sampled_from(("\r\n", "\n", "\r"))).join(lines)


@st.composite
def line_payloads(draw: st.DrawFn) -> str:
    value = texts | st.sampled_from(("ada@example.com", "<mailto:a@b.c>", "http://x.example", " " * 5000))
    lines = [
        f"{draw(st.sampled_from(('', '> ', '**', ' ' * 3000)))}{draw(st.sampled_from(LABELS) | texts)}"
        f"{draw(st.sampled_from((':', ': ', ' :', '::', '')))}{draw(value)}"
        for _ in range(draw(st.integers(0, 8)))
    ]
    lines += draw(
        st.lists(st.sampled_from(("--", "", " " * 5000, "\t*> " * 1000, "Comments:", "more")), max_size=3)
    )
    draw(st.randoms()).shuffle(lines)
    return "\n".join(lines)


@st.composite
def html_payloads(draw: st.DrawFn) -> str:
    rows = "".join(
        f"<tr><{cell}>{draw(st.sampled_from(LABELS) | texts)}</{cell}><td>{draw(texts)}</td></tr>"
        for cell in draw(st.lists(st.sampled_from(("td", "th")), max_size=6))
    )
    wrapper = draw(
        st.sampled_from(("<html><body><table>{}</table></body></html>", "<table>{}", "{}<br>", "<p>{}"))
    )
    return wrapper.format(rows) + draw(line_payloads())


@st.composite
def leaf_parts(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(("adf", "csv", "lines", "html", "binary")))
    media_type = {
        "adf": "application/xml",
        "csv": "text/csv",
        "lines": "text/plain",
        "html": "text/html",
        "binary": "application/octet-stream",
    }[kind]
    if draw(st.integers(0, 4)) == 0:  # mislabelled
        media_type = draw(
            st.sampled_from(("text/plain", "text/xml", "application/pdf", "text/csv", "bogus", ""))
        )
    if kind == "binary":
        payload = draw(st.binary(max_size=200))
    else:
        text = {
            "adf": adf_documents().map(lambda document: document[0]),
            "csv": csv_payloads(),
            "lines": line_payloads(),
            "html": html_payloads(),
        }[kind]
        codec = draw(st.sampled_from(("utf-8", "latin-1", "utf-16", "cp1252", "shift_jis")))
        payload = draw(text).encode(codec, "replace")
    headers = [f"Content-Type: {media_type}"]
    label = draw(st.none() | st.sampled_from(CHARSET_LABELS))
    if label is not None:
        headers[0] += f'; charset="{label}"'
    filename = draw(
        st.none()
        | st.sampled_from(
            ("leads.csv", "lead.adf", "lead.xml", "notes.txt", "x" * 300 + ".csv", "a\x00b.csv")
        )
    )
    if filename is not None:
        disposition = draw(st.sampled_from(("attachment", "inline", "bogus")))
        headers.append(f'Content-Disposition: {disposition}; filename="{filename}"')
    encoding = draw(
        st.sampled_from((None, "7bit", "8bit", "base64", "quoted-printable", "x-uuencode", "bogus"))
    )
    if encoding is not None:
        headers.append(f"Content-Transfer-Encoding: {encoding}")
    if encoding == "base64":
        payload = base64.encodebytes(payload)
        if draw(st.booleans()):  # corrupt: characters cut, padding wrong
            payload = payload[: draw(st.integers(0, len(payload)))] + b"!="
    elif encoding == "quoted-printable":
        payload = quopri.encodestring(payload) + draw(st.sampled_from((b"", b"=", b"=Z9", b"=\r\n")))
    newline = draw(st.sampled_from(("\r\n", "\n")))
    return (newline.join(headers) + newline + newline).encode("utf-8", "surrogateescape") + payload


@st.composite
def multiparts(draw: st.DrawFn, children: st.SearchStrategy[bytes]) -> bytes:
    boundary = draw(st.sampled_from(("b", "b1", "==_b", "x" * 80, "b b", "")))
    subtype = draw(st.sampled_from(("mixed", "alternative", "related", "report")))
    body = draw(st.sampled_from((b"", b"preamble\r\n")))
    for child in draw(st.lists(children, max_size=4)):
        body += b"--" + boundary.encode() + b"\r\n" + child + b"\r\n"
    if draw(st.booleans()):  # else the closing boundary is missing
        body += b"--" + boundary.encode() + b"--\r\n"
    body += draw(st.sampled_from((b"", b"epilogue")))
    return f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode() + body


@st.composite
def attached_messages(draw: st.DrawFn, children: st.SearchStrategy[bytes]) -> bytes:
    return b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n" + draw(children)


mime_trees = st.recursive(
    leaf_parts(),
    lambda children: multiparts(children) | attached_messages(children),
    max_leaves=8,
)


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    sender = draw(
        st.sampled_from(
            ("Ada <ada@example.com>", "<>", "=?utf-8?q?=FF?= <a@b.c>", "a@", "", "\udcff@x", "x" * 500)
        )
    )
    subject = draw(
        st.sampled_from(("New lead", "=?x-unknown?B?AAA=?=", "=?utf-8?b?4pyT?=", "=?utf-8?q?", ""))
    )
    envelope = f"From: {sender}\r\nSubject: {subject}\r\nMessage-ID: <{draw(st.integers(0, 9))}@x>\r\n"
    if draw(st.booleans()):
        envelope += "MIME-Version: 1.0\r\n"
    return envelope.encode("utf-8", "surrogateescape") + draw(mime_trees)


@fuzz(150)
@given(messages() | mutated(messages()))
@example(b"Content-Type: text/plain; charset=\x00\r\n\r\nFirst Name: Ada\r\nEmail: a@b.c\r\n")
@example(b"Content-Type: text/plain; charset=idna\r\n\r\n\xc2\x80 First Name: Ada\r\n")
@example(b"Content-Type: text/html\r\n\r\n<p>First Name: Ada\x0b</p>\r\n")
@example(b"Content-Type: text/plain\r\n\r\nEmail: a" + b" " * 10_000 + b"b\r\n" + b" " * 10_000 + b"\r\n")
def test_any_message_gives_leads_or_errors(raw: bytes) -> None:
    check_message(raw)


SMALL_LIMITS = Limits(
    max_message_bytes=20_000,
    max_parts=5,
    max_depth=2,
    max_part_bytes=3_000,
    max_total_bytes=5_000,
    max_leads=3,
)


@fuzz(100)
@given(messages())
def test_a_message_over_a_limit_gives_no_leads(raw: bytes) -> None:
    check_message(raw, SMALL_LIMITS)


names = st.from_regex(r"[A-Za-z][A-Za-z' -]{0,20}[A-Za-z]", fullmatch=True)


@fuzz(100)
@given(
    names,
    st.from_regex(r"[a-z0-9.]{1,10}@[a-z0-9]{1,10}\.[a-z]{2,4}", fullmatch=True),
    st.sampled_from(("utf-8", "latin-1", "utf-16", "cp1252")),
    st.sampled_from(("7bit", "8bit", "base64", "quoted-printable")),
)
def test_a_plain_text_lead_reads_back_in_any_charset_and_encoding(
    first_name: str, email: str, charset: str, encoding: str
) -> None:
    message = EmailMessage()
    message["From"] = "forms@example.com"
    message["Subject"] = "New lead"
    text = f"First Name: {first_name}\nEmail: {email}\nComments: call after 5\n"
    if charset == "utf-16":  # NUL bytes: only an encoding carries them
        encoding = "base64"
    message.set_content(text.encode(charset), "text", "plain", cte=encoding, params={"charset": charset})
    parsed = check_message(message.as_bytes())
    [lead] = parsed.leads
    assert lead.fields["first_name"] == first_name.strip()
    assert lead.fields["email"] == email


@fuzz(100)
@given(line_payloads())
@example(" " * 10_000)
@example("Email: a" + " " * 10_000 + "b")
@example(">" * 3000 + "*" * 3000 + "\t" * 3000)
def test_labelled_lines_are_read_in_bounded_time(text: str) -> None:
    fields = labelled_fields(text)
    assert all(isinstance(value, str) for value in fields.values())
    assert output_size(fields) <= 2 * len(text) + 100
    html_fields = labelled_fields(text, html=True)
    assert output_size(html_fields) <= 2 * len(text) + 100
