"""Lead e-mail: real MIME messages (built with the standard library) read into leads and errors."""

from __future__ import annotations

import random
from email.message import EmailMessage
from pathlib import Path

import msgspec
import pytest

from adapters.inbound.email import Limits, MessageLead, ParsedMessage, canonical_label, parse_message

SAMPLES = Path(__file__).parents[2].parent / "shared" / "samples" / "adf"
HOSTILE = {"seorylie_xxe_attack.xml"}
CONTACT = "<contact><name part='first'>{first}</name><name part='last'>Lovelace</name>{extra}</contact>"


def _adf(*firsts: str, pi: bool = True) -> str:
    prospects = "".join(
        f"<prospect><requestdate>2024-05-01T10:00:00Z</requestdate>"
        f"<vehicle interest='buy' status='new'>"
        f"<year>2024</year><make>Volvo</make><model>XC90</model></vehicle>"
        f"<customer>{CONTACT.format(first=first, extra='<email>ada@example.com</email>')}</customer>"
        f"</prospect>"
        for first in firsts
    )
    head = '<?xml version="1.0" encoding="UTF-8"?>\n<?adf version="1.0"?>\n' if pi else ""
    return f"{head}<adf>{prospects}</adf>\n"


def _message(body: str = "", subtype: str = "plain", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = headers.get("sender", "Lead Desk <leads@vendor.example>")
    message["To"] = "inbox@exchange.example"
    message["Subject"] = headers.get("subject", "New lead")
    message["Message-ID"] = "<lead-1@vendor.example>"
    message.set_content(body, subtype=subtype)
    return message


def _only_lead(parsed: ParsedMessage) -> MessageLead:
    assert parsed.errors == []
    assert len(parsed.leads) == 1
    return parsed.leads[0]


# Envelope and no-lead cases ---------------------------------------------------------------------------


def test_envelope_is_read_from_the_headers() -> None:
    parsed = parse_message(_message("First Name: Ada", subject="Lead: Ada").as_bytes())
    assert (parsed.message_id, parsed.sender, parsed.subject) == (
        "<lead-1@vendor.example>",
        "leads@vendor.example",
        "Lead: Ada",
    )


def test_an_ordinary_email_carries_no_lead() -> None:
    parsed = parse_message(_message("Hi team,\nsee you at 10:30 tomorrow.\n\n-- \nBob").as_bytes())
    assert parsed.leads == []
    assert parsed.errors == ["no lead found in the message"]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff" * 100,
        random.Random(7).randbytes(8192),
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
        b"--x\r\nContent-Transfer-Encoding: base64\r\n\r\n@@@",
        b"From: \xff\xfe <@@>\r\nSubject: =?utf-8?b?!!!?=\r\n"
        b"Content-Type: text/plain; charset=nope\r\n\r\n\xff",
    ],
    ids=["empty", "binary", "random", "truncated-multipart", "broken-headers"],
)
def test_garbage_gives_errors_not_exceptions(raw: bytes) -> None:
    parsed = parse_message(raw)
    assert parsed.leads == []
    assert parsed.errors
    msgspec.json.encode(parsed)  # no lone surrogates: undecodable header bytes read as Latin-1


# ADF --------------------------------------------------------------------------------------------------


def test_adf_in_the_body_is_one_auto_sales_lead() -> None:
    lead = _only_lead(parse_message(_message("New lead below\n\n" + _adf("Ada") + "\nThanks").as_bytes()))
    assert (lead.kind, lead.source, lead.error) == ("adf", "body:adf", None)
    assert lead.fields["first_name"] == "Ada"
    assert lead.fields["last_name"] == "Lovelace"
    assert lead.fields["vehicle_make"] == "Volvo"
    assert lead.fields["vehicle_year"] == "2024"


@pytest.mark.parametrize("pi", [True, False], ids=["with-pi", "without-pi"])
@pytest.mark.parametrize(
    ("maintype", "subtype", "filename"),
    [("application", "xml", "lead.xml"), ("text", "xml", None), ("application", "octet-stream", "lead.adf")],
)
def test_adf_attachment_is_read(pi: bool, maintype: str, subtype: str, filename: str | None) -> None:
    message = _message("Please find the lead attached.")
    message.add_attachment(_adf("Ada", pi=pi).encode(), maintype=maintype, subtype=subtype, filename=filename)
    lead = _only_lead(parse_message(message.as_bytes()))
    assert lead.kind == "adf"
    assert lead.source.startswith("attachment:")
    assert lead.fields["first_name"] == "Ada"


def test_two_prospects_are_two_leads() -> None:
    message = _message("Two leads attached.")
    message.add_attachment(
        _adf("Ada", "Grace").encode(), maintype="application", subtype="xml", filename="a.xml"
    )
    parsed = parse_message(message.as_bytes())
    assert parsed.errors == []
    assert [(lead.source, lead.fields["first_name"]) for lead in parsed.leads] == [
        ("attachment:a.xml#prospect1", "Ada"),
        ("attachment:a.xml#prospect2", "Grace"),
    ]


def test_adf_wins_over_a_summary_body_and_the_same_document_counts_once() -> None:
    message = _message(_adf("Ada") + "\nFirst Name: Someone Else\nPhone: 555 0100\n")
    message.add_attachment(_adf("Ada").encode(), maintype="application", subtype="xml", filename="lead.xml")
    parsed = parse_message(message.as_bytes())
    assert [lead.fields["first_name"] for lead in parsed.leads] == ["Ada"]


def test_latin1_adf_attachment_uses_its_xml_declaration() -> None:
    document = _adf("Zoë", pi=False).replace("<adf>", '<?xml version="1.0" encoding="ISO-8859-1"?><adf>', 1)
    message = _message("attached")
    message.add_attachment(
        document.encode("latin-1"), maintype="application", subtype="xml", filename="l.xml"
    )
    assert _only_lead(parse_message(message.as_bytes())).fields["first_name"] == "Zoë"


def test_broken_adf_is_an_error_and_its_text_is_not_read_as_lines() -> None:
    body = "<?adf version='1.0'?>\n<adf><prospect>\nFirst Name: Not A Lead\n<customer>\n"
    parsed = parse_message(_message(body).as_bytes())
    assert parsed.leads == []
    assert len(parsed.errors) == 1
    assert parsed.errors[0].startswith("body:adf: malformed XML")


def test_adf_entities_are_refused_before_any_expansion() -> None:
    document = (
        '<?xml version="1.0"?>\n<!DOCTYPE adf [<!ENTITY boom "BOOM">]>\n'
        "<adf><prospect><customer><contact><name>&boom;</name></contact></customer></prospect></adf>"
    )
    message = _message("attached")
    message.add_attachment(document.encode(), maintype="text", subtype="xml", filename="x.xml")
    parsed = parse_message(message.as_bytes())
    assert parsed.leads == []
    assert "DOCTYPE" in parsed.errors[0]


# Key: Value lines -------------------------------------------------------------------------------------

LINES_BODY = """\
You have a new lead from the website.

From: Web Form <form@site.example>
First Name: Ada
SURNAME : Lovelace
E-mail: ada@example.com<mailto:ada@example.com>
Phone Number: (555) 010-0100
Street Address: 12 St James's Square
city: London
Province: Greater London
Zip Code: SW1Y 4JH
Vehicle Year: 2022
Details: https://site.example/leads/1
See https://site.example for more.
Comments: Please call after 6pm.
I prefer e-mail though.

--
Web Form Robot
Phone: 000
"""


def test_key_value_lines_with_variant_labels() -> None:
    lead = _only_lead(parse_message(_message(LINES_BODY).as_bytes()))
    assert (lead.kind, lead.source) == ("lines", "body:lines")
    assert lead.fields == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "(555) 010-0100",
        "address": "12 St James's Square",
        "city": "London",
        "state": "Greater London",
        "zip": "SW1Y 4JH",
        "vehicle_year": "2022",
        "details": "https://site.example/leads/1",
        "comments": "Please call after 6pm.\nI prefer e-mail though.",
    }


def test_a_full_name_fills_first_and_last_name() -> None:
    lead = _only_lead(parse_message(_message("Full Name: Ada King Lovelace\nCell: 555 0100").as_bytes()))
    assert lead.fields == {"first_name": "Ada", "last_name": "King Lovelace", "phone": "555 0100"}


def test_forwarded_message_body_is_read() -> None:
    inner = _message("Name: Grace Hopper\nEmail Address: grace@example.com")
    outer = _message("FYI, forwarding the lead below.")
    outer.add_attachment(inner)
    lead = _only_lead(parse_message(outer.as_bytes()))
    assert lead.fields == {"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com"}


@pytest.mark.parametrize("cte", ["quoted-printable", "base64"])
def test_transfer_encodings_and_declared_charsets_are_decoded(cte: str) -> None:
    message = EmailMessage()
    message["Subject"] = "lead"
    message.set_content(
        "First Name: Zoë\nLast Name: Ça Va\nPostal Code: 75001 " + "x" * 90, charset="latin-1", cte=cte
    )
    raw = message.as_bytes()
    assert f"Content-Transfer-Encoding: {cte}".encode() in raw
    fields = _only_lead(parse_message(raw)).fields
    assert (fields["first_name"], fields["last_name"]) == ("Zoë", "Ça Va")
    assert fields["zip"].startswith("75001 x")


def test_undecodable_bytes_in_the_declared_charset_fall_back_to_latin1() -> None:
    raw = (
        b"From: a@b.example\r\nSubject: lead\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\nFirst Name: Zo\xeb\r\nLast Name: Caf\xc3\xa9\r\n"
    )
    fields = _only_lead(parse_message(raw)).fields
    assert (fields["first_name"], fields["last_name"]) == ("Zoë", "Café")


# HTML -------------------------------------------------------------------------------------------------


def test_html_only_body_with_a_label_value_table() -> None:
    html = """<html><head><title>Name: Not This</title><style>p{}</style></head><body>
    <h1>New lead</h1>
    <table>
      <tr><th>First Name:</th><td>Ada</td></tr>
      <tr><td>Last Name</td><td><b>Lovelace</b></td></tr>
      <tr><td>E-mail</td><td><a href="mailto:ada@example.com">ada@example.com</a></td></tr>
      <tr><td>ZIP</td><td>SW1Y 4JH</td></tr>
      <tr><td colspan="2">Sent by the form</td></tr>
    </table></body></html>"""
    lead = _only_lead(parse_message(_message(html, subtype="html").as_bytes()))
    assert (lead.kind, lead.source) == ("html", "body:html")
    assert lead.fields == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "zip": "SW1Y 4JH",
    }


def test_html_body_with_label_value_lines() -> None:
    html = "<div><p>A lead arrived</p><p>First Name: Ada<br>Mobile: 555 0100<br/>Notes: call me</p></div>"
    lead = _only_lead(parse_message(_message(html, subtype="html").as_bytes()))
    assert lead.fields == {"first_name": "Ada", "phone": "555 0100", "comments": "call me"}


def test_html_alternative_is_used_when_the_text_part_has_no_lead() -> None:
    message = _message("This message is best viewed in HTML.")
    message.add_alternative("<p>First Name: Ada<br>Phone: 555</p>", subtype="html")
    assert _only_lead(parse_message(message.as_bytes())).kind == "html"


# CSV --------------------------------------------------------------------------------------------------

CSV_BYTES = (
    b"\xef\xbb\xbfFirst Name,Surname,E-mail Address,Phone Number,Comments\r\n"
    b'Ada,Lovelace,ada@example.com,555 0100,"likes ""engines"",\r\nand math"\r\n'
    b"Zo\xeb,Lef\xe8vre,zoe@example.com,555 0101,\r\n"
    b"\r\n"
    b'Bad,"Quote,bad@example.com,555 0102,x\r\n'
    b"Short,Row\r\n"
    b"Grace,Hopper,grace@example.com,555 0103,ok\r\n"
)


def test_csv_attachment_rows_are_leads_and_broken_rows_are_errors() -> None:
    message = _message("Today's leads attached.")
    message.add_attachment(CSV_BYTES, maintype="text", subtype="csv", filename="leads.csv")
    parsed = parse_message(message.as_bytes())
    assert parsed.errors == []
    assert all(lead.kind == "csv" for lead in parsed.leads)
    by_row = {lead.source: lead for lead in parsed.leads}
    assert list(by_row) == [f"attachment:leads.csv#row{n}" for n in range(1, 6)]
    ada, zoe, bad, short, grace = parsed.leads
    assert ada.error is None
    assert ada.fields == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.com",
        "phone": "555 0100",
        "comments": 'likes "engines",\nand math',
    }
    assert (zoe.error, zoe.fields["first_name"], zoe.fields["last_name"]) == (None, "Zoë", "Lefèvre")
    assert bad.error == "row 3: a quoted value is never closed"
    assert short.error == "row 4 has 2 columns, the header has 5"
    assert short.fields == {"first_name": "Short", "last_name": "Row"}
    assert (grace.error, grace.fields["email"]) == (None, "grace@example.com")


def test_csv_by_extension_with_semicolons_wins_over_the_body() -> None:
    message = _message("First Name: Body Person\nPhone: 1")
    message.add_attachment(
        b"first_name;last_name;zip;vehicle_make\nAda;Lovelace;12345;Volvo\n",
        maintype="application",
        subtype="octet-stream",
        filename="export.CSV",
    )
    lead = _only_lead(parse_message(message.as_bytes()))
    assert lead.fields == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "zip": "12345",
        "vehicle_make": "Volvo",
    }


def test_csv_without_a_header_is_a_message_error() -> None:
    message = _message("see attached")
    message.add_attachment(
        b"Ada,Lovelace,ada@example.com\n", maintype="text", subtype="csv", filename="x.csv"
    )
    parsed = parse_message(message.as_bytes())
    assert parsed.leads == []
    assert parsed.errors == ["attachment:x.csv: the first row names no known field, so it is not a header"]


# Labels -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("First Name", "first_name"),
        ("first_name", "first_name"),
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("Phone Number", "phone"),
        ("Telephone", "phone"),
        ("Cell", "phone"),
        ("MOBILE", "phone"),
        ("Zip Code", "zip"),
        ("Postal Code", "zip"),
        ("ZIP", "zip"),
        ("Surname", "last_name"),
        ("Street Address", "address"),
        ("Address 1", "address"),
        ("Province", "state"),
        ("Message", "comments"),
        ("Notes", "comments"),
        ("Full Name", "full_name"),
        ("Vehicle Year", "vehicle_year"),
        ("vehicle_year", "vehicle_year"),
        ("Credit Rating ", "credit_rating"),
        ("Prénom Usuel", "prenom_usuel"),
        ("2nd Phone", None),
        ("#", None),
        ("", None),
    ],
)
def test_canonical_label(label: str, expected: str | None) -> None:
    assert canonical_label(label) == expected


# Limits -----------------------------------------------------------------------------------------------


def test_too_many_parts_is_a_limit_error_with_no_leads() -> None:
    message = _message("First Name: Ada\nPhone: 555")
    for number in range(500):
        message.add_attachment(
            f"part {number}".encode(), maintype="text", subtype="plain", filename=f"{number}.txt"
        )
    parsed = parse_message(message.as_bytes())
    assert parsed.leads == []
    assert parsed.errors == ["the message has more than 100 parts (limit max_parts)"]
    assert parsed.message_id == "<lead-1@vendor.example>"


def test_deep_nesting_is_a_limit_error() -> None:
    message = _message("First Name: Ada\nPhone: 555")
    for _ in range(12):
        outer = EmailMessage()
        outer["Subject"] = "Fwd"
        outer.set_content("forwarded")
        outer.add_attachment(message)
        message = outer
    parsed = parse_message(message.as_bytes())
    assert parsed.leads == []
    assert parsed.errors == ["the message nests deeper than 10 levels (limit max_depth)"]


def test_pathologically_deep_multipart_is_an_error_not_a_crash() -> None:
    depth = 3000
    opening = "".join(
        f'Content-Type: multipart/mixed; boundary="b{n}"\r\n\r\n--b{n}\r\n' for n in range(depth)
    )
    parsed = parse_message(("Subject: deep\r\n" + opening + "\r\nFirst Name: Ada\r\n").encode())
    assert parsed.leads == []
    assert parsed.errors


def test_a_part_over_the_size_limit() -> None:
    message = _message("First Name: Ada\nPhone: 555\n" + "x" * 2000)
    parsed = parse_message(message.as_bytes(), limits=Limits(max_part_bytes=1000))
    assert parsed.leads == []
    assert parsed.errors == ["part 1 is larger than 1000 bytes (limit max_part_bytes=1000)"]


def test_total_decoded_bytes_over_the_limit() -> None:
    message = _message("First Name: Ada\nPhone: 555")
    for number in range(3):
        message.add_attachment(b"a,b\n" * 200, maintype="text", subtype="csv", filename=f"{number}.csv")
    parsed = parse_message(message.as_bytes(), limits=Limits(max_total_bytes=2000))
    assert parsed.leads == []
    assert "limit max_total_bytes=2000" in parsed.errors[0]


def test_a_raw_message_over_the_size_limit_is_not_parsed() -> None:
    parsed = parse_message(_message("x" * 5000).as_bytes(), limits=Limits(max_message_bytes=1000))
    assert parsed.errors == ["the message is larger than 1000 bytes (limit max_message_bytes=1000)"]


@pytest.mark.parametrize("kind", ["csv", "adf"])
def test_too_many_leads_gives_none(kind: str) -> None:
    message = _message("attached")
    if kind == "csv":
        message.add_attachment(
            b"email\n" + b"a@example.com\n" * 4, maintype="text", subtype="csv", filename="l.csv"
        )
    else:
        message.add_attachment(
            _adf("A", "B", "C", "D").encode(), maintype="text", subtype="xml", filename="l.xml"
        )
    parsed = parse_message(message.as_bytes(), limits=Limits(max_leads=3))
    assert parsed.leads == []
    assert parsed.errors == ["the message carries more than 3 leads (limit max_leads)"]


# Real ADF documents (shared/samples/adf), when present --------------------------------------------------


def _sample_names() -> list[str]:
    if not SAMPLES.is_dir():
        return ["(no samples)"]
    return sorted(path.name for path in SAMPLES.glob("*.xml"))


@pytest.fixture
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"no ADF samples at {SAMPLES}")
    return SAMPLES


@pytest.mark.parametrize("where", ["body", "attachment"])
@pytest.mark.parametrize("name", _sample_names())
def test_each_adf_sample_wrapped_in_a_message(samples_dir: Path, name: str, where: str) -> None:
    document = (samples_dir / name).read_bytes()
    message = _message("Lead attached." if where == "attachment" else document.decode("utf-8"))
    if where == "attachment":
        message.add_attachment(document, maintype="application", subtype="xml", filename=name)
    parsed = parse_message(message.as_bytes())
    if name in HOSTILE:
        assert parsed.leads == []
        assert len(parsed.errors) == 1
        assert "DOCTYPE or entity declarations is refused" in parsed.errors[0]
        return
    assert parsed.errors == []
    assert parsed.leads
    for lead in parsed.leads:
        assert lead.kind == "adf"
        assert lead.error is None
        assert lead.fields.get("first_name")
        assert lead.fields.get("phone") or lead.fields.get("email")
