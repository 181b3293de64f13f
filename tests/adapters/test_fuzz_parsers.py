"""Fuzzed lead bodies (JSON, name-value pairs, XML, ADF): every body gives fields or a clear
ExchangeError, in bounded time, with output no bigger than the input warrants.

Documents are built valid first, then mutated: deep nesting, huge numbers, charsets and byte
order marks, NULs and invalid UTF-8, entities and DTDs, namespaces, ADF parts missing or repeated.
"""

from __future__ import annotations

import tracemalloc
from typing import Any
from urllib.parse import quote_from_bytes
from xml.sax.saxutils import escape

import msgspec
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.inbound import ParsedBody, parse_lead_body
from adapters.inbound.adf import parse_adf_prospects
from exchange.errors import ExchangeError
from tests.fuzz_profile import CHARSET_LABELS, fuzz, mutated, output_size


def parse_or_refuse(body: bytes, content_type: str) -> ParsedBody | None:
    """The property every parser keeps: fields, or an ExchangeError that says what is wrong."""
    try:
        parsed = parse_lead_body(body, content_type)
    except ExchangeError as error:
        assert_clear(error)
        return None
    assert isinstance(parsed, ParsedBody)
    assert isinstance(parsed.fields, dict)
    # No expansion: what is read is never much bigger than what was sent.
    assert output_size(parsed.fields) <= 4 * len(body) + 300
    return parsed


def assert_clear(error: ExchangeError) -> None:
    assert 400 <= error.status_code < 500
    assert isinstance(error.code, str) and error.code
    assert isinstance(error.message, str) and error.message.strip()
    for problem in error.errors:
        assert problem.field and problem.code and problem.message


def with_charset(media_type: str, label: str | None) -> str:
    return media_type if label is None else f"{media_type}; charset={label}"


def sometimes_mutated(cases: st.SearchStrategy[tuple[bytes, str]]) -> st.SearchStrategy[tuple[bytes, str]]:
    """Cases as built, or with their bytes mutated (the content type kept)."""
    return cases | cases.flatmap(lambda case: mutated(st.just(case[0])).map(lambda body: (body, case[1])))


charset_labels = st.none() | st.sampled_from(CHARSET_LABELS)
text_codecs = st.sampled_from(("utf-8", "utf-16", "utf-16-be", "latin-1", "cp1252", "utf-32", "shift_jis"))
# Names publishers send, with dots that nest and the odd ones that must not.
names = st.sampled_from(
    (
        "first_name",
        "email",
        "consent",
        "consent.text",
        "a",
        "a.b",
        "a.b.c",
        "a..b",
        ".a",
        "a.",
        "",
        "é",
        "ü.x",
    )
) | st.text(st.characters(codec="utf-8"), max_size=12)
texts = st.text(st.characters(codec="utf-8"), max_size=30) | st.sampled_from(
    ("", " ", "n/a", "null", "\u2028", "9" * 5000, "\x00", "ａｄａ", "e\u0301")
)


# ---------------------------------------------------------------------------------------------
# JSON

json_scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(names, children, max_size=4),
    max_leaves=20,
)


@st.composite
def json_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    document = draw(st.dictionaries(names, json_values, max_size=6) | json_values)
    text = msgspec.json.encode(document).decode()
    if draw(st.booleans()):  # a deep wrapper of objects, dotted objects or arrays
        depth = draw(st.integers(1, 3000))
        opener, closer = draw(st.sampled_from((('{"a":', "}"), ('{"a.b":', "}"), ("[", "]"))))
        text = '{"deep":' + opener * depth + text + closer * depth + "}"
    if draw(st.booleans()):  # a huge or odd number somewhere
        number = draw(st.sampled_from(("9" * 5000, "-" + "9" * 30, "1e999", "-0", "0.1e-999", "1" * 400)))
        text = text.replace(":", f":{number},", 1) if draw(st.booleans()) else f'{{"n":{number}}}'
    codec = draw(text_codecs)
    body = text.encode(codec, "replace")
    if draw(st.booleans()):
        body = b"\xef\xbb\xbf" + body
    label = draw(st.none() | st.just(codec) | st.sampled_from(CHARSET_LABELS))
    return body, with_charset("application/json", label)


@fuzz(150)
@given(sometimes_mutated(json_bodies()))
@example((b'{"a":' + b"9" * 5000 + b"}", "application/json"))
@example((b'{"a":1}', "application/json; charset=\x00"))
def test_json_bodies_give_fields_or_a_clear_error(case: tuple[bytes, str]) -> None:
    parse_or_refuse(*case)


# ---------------------------------------------------------------------------------------------
# Name-value pairs


@st.composite
def form_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    codec = draw(text_codecs)
    pairs = draw(st.lists(st.tuples(names, texts), max_size=10))
    chunks = []
    for name, value in pairs:
        raw_name, raw_value = name.encode(codec, "replace"), value.encode(codec, "replace")
        if draw(st.booleans()):  # percent-encoded, as a form does; else sent raw
            raw_name, raw_value = quote_from_bytes(raw_name).encode(), quote_from_bytes(raw_value).encode()
        chunks.append(raw_name + draw(st.sampled_from((b"=", b"", b"=="))) + raw_value)
    separator = draw(st.sampled_from((b"&", b"&&", b";", b"&amp;")))
    body = draw(st.sampled_from((b"", b"\n", b" \t"))) + separator.join(chunks) + b"\r\n"
    label = draw(st.none() | st.just(codec) | st.sampled_from(CHARSET_LABELS))
    return body, with_charset("application/x-www-form-urlencoded", label)


@fuzz(150)
@given(sometimes_mutated(form_bodies()))
@example((b"a=1", "application/x-www-form-urlencoded; charset=\x00"))
@example((b"a=1&a.b=2", "application/x-www-form-urlencoded"))
def test_form_bodies_give_fields_or_a_clear_error(case: tuple[bytes, str]) -> None:
    parsed = parse_or_refuse(*case)
    if parsed is not None:
        assert all(isinstance(name, str) and name for name in parsed.fields)


# ---------------------------------------------------------------------------------------------
# XML

element_names = st.sampled_from(
    ("lead", "first_name", "email", "a", "a.b", "consent", "consent.text", "p:x", "q:y", "x-y", "_")
) | st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,10}", fullmatch=True)
xml_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20
) | st.sampled_from(
    ("&amp;", "&lt;x&gt;", "&#65;", "&#x1F600;", "&#0;", "&bogus;", "<![CDATA[<a>]]>", " n/a ", "9" * 5000)
)
attributes = st.lists(
    st.tuples(st.sampled_from(("id", "xmlns", "xmlns:p", "p:attr", "part", "type", "line")), xml_text),
    max_size=2,
)
xml_trees = st.recursive(
    st.tuples(element_names, attributes, xml_text),
    lambda children: st.tuples(element_names, attributes, st.lists(children, max_size=4)),
    max_leaves=25,
)
PROLOGS = (
    "",
    '<?xml version="1.0"?>',
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<?xml version="1.0" encoding="ISO-8859-1"?>',
    '<?xml version="1.0" encoding="UTF-16"?>',
    '<?xml version="1.0" encoding="bogus"?>',
    '<?xml version="1.0" encoding="utf-7"?>',
    '<?ADF VERSION "1.0"?>',
    "<?XML VERSION “1.0”?>",
    "<!-- a comment -->",
    "\ufeff",
    "<?unterminated",
    "<!DOCTYPE lead>",
    '<!DOCTYPE lead SYSTEM "http://example.invalid/lead.dtd">',
    "<!-- c --><!doctype lead [<!ENTITY x 'y'>]>",
    "\ufeff<!DOCTYPE lead [<!ENTITY % p SYSTEM 'file:///etc/passwd'> %p;]>",
)


def render(node: tuple[str, list[tuple[str, str]], Any], root: str | None = None) -> str:
    name, attrs, content = node
    name = root or name
    rendered = "".join(f' {key}="{value.replace(chr(34), "&quot;")}"' for key, value in attrs)
    inner = "".join(render(child) for child in content) if isinstance(content, list) else content
    return f"<{name}{rendered}>{inner}</{name}>"


@st.composite
def xml_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    root = draw(st.sampled_from(("lead", "Lead", "leads", "adf", "x:lead", "other")))
    document = draw(st.sampled_from(PROLOGS)) + render(draw(xml_trees), root)
    if draw(st.booleans()):  # deeper than libxml2 allows, or just deep
        depth = draw(st.integers(1, 400))
        document = document.replace("</", "<d>" * depth + "</d>" * depth + "</", 1)
    codec = draw(text_codecs)
    body = document.encode(codec, "replace")
    label = draw(st.none() | st.just(codec) | st.sampled_from(CHARSET_LABELS))
    return body, with_charset(draw(st.sampled_from(("application/xml", "text/xml"))), label)


@fuzz(150)
@given(sometimes_mutated(xml_bodies()))
@example((b"<lead><a>1</a></lead>", "application/xml; charset=\x00"))
def test_xml_bodies_give_fields_or_a_clear_error(case: tuple[bytes, str]) -> None:
    parse_or_refuse(*case)


@fuzz(100)
@given(st.dictionaries(st.from_regex(r"[a-z_][a-z0-9_]{0,10}", fullmatch=True), xml_text, max_size=8))
def test_simple_xml_leads_read_back_their_fields(fields: dict[str, str]) -> None:
    body = "<lead>" + "".join(f"<{name}>{text}</{name}>" for name, text in fields.items()) + "</lead>"
    parsed = parse_or_refuse(body.encode(), "application/xml")
    if all("&" not in text and "<" not in text for text in fields.values()):
        assert parsed is not None
        assert parsed.fields == {name: text.strip() for name, text in fields.items()}


LAUGHS = (
    '<!DOCTYPE lead [<!ENTITY l0 "ha">'
    + "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    + "]>"
)


@fuzz(60)
@given(
    st.sampled_from(("", "\ufeff", "<!-- x -->", "<?xml version='1.0'?>", "  \n", "<?ADF?>\ufeff")),
    st.sampled_from(
        (LAUGHS, LAUGHS.replace("DOCTYPE", "doctype"), LAUGHS.replace("<!DOCTYPE lead [", "<!DOCTYPE lead[ "))
    ),
    st.sampled_from(("utf-8", "utf-16", "utf-16-be")),
)
def test_entity_bombs_are_refused_without_expanding(prefix: str, doctype: str, codec: str) -> None:
    body = (prefix + doctype + "<lead><first_name>&l9;</first_name></lead>").encode(codec)
    tracemalloc.start()
    try:
        parsed = parse_or_refuse(body, "application/xml")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed is None
    assert peak < 5_000_000


# ---------------------------------------------------------------------------------------------
# ADF

PRICES = ("23999", "23,999.00", "$23,999", "23999 USD", "٣٤٥", "²", "9" * 5000, "1,2,3", "abc", "", "n/a")
NUMBERS = ("1", "2", "²", "٢", "-1", "", "x", "9" * 5000, "0")
adf_text = (
    st.sampled_from(("", "n/a", "None", "-", "Ada", "Ada Lovelace", "  Ada  ", "9" * 5000)) | xml_text
).map(escape)


def tag(name: str, content: str, **attrs: str) -> str:
    rendered = "".join(f' {key}="{value}"' for key, value in attrs.items())
    return f"<{name}{rendered}>{content}</{name}>"


@st.composite
def adf_contacts(draw: st.DrawFn) -> str:
    parts = [
        tag("name", draw(adf_text), part=draw(st.sampled_from(("first", "last", "full", "surname", "x", ""))))
        for _ in range(draw(st.integers(0, 3)))
    ]
    parts += [tag("email", draw(adf_text)) for _ in range(draw(st.integers(0, 2)))]
    parts += [
        tag("phone", draw(adf_text), type=draw(st.sampled_from(("voice", "fax", "cellphone", "", "pager"))))
        for _ in range(draw(st.integers(0, 3)))
    ]
    if draw(st.booleans()):
        streets = "".join(
            tag("street", draw(adf_text), line=draw(st.sampled_from(NUMBERS)))
            for _ in range(draw(st.integers(0, 3)))
        )
        extras = "".join(
            tag(name, draw(adf_text)) for name in ("city", "regioncode", "postalcode", "apartment")
        )
        parts.append(tag("address", streets + extras))
    draw(st.randoms()).shuffle(parts)
    return tag("contact", "".join(parts), primarycontact=draw(st.sampled_from(("1", "0", "", "yes"))))


@st.composite
def adf_vehicles(draw: st.DrawFn) -> str:
    children = [tag(name, draw(adf_text)) for name in ("year", "make", "model", "vin", "odometer")]
    if draw(st.booleans()):
        delta = draw(st.sampled_from(("absolute", "relative", "")))
        children.append(tag("price", draw(st.sampled_from(PRICES) | adf_text), delta=delta))
    children.append(tag("colorcombination", tag("interiorcolor", "red")))
    interest = draw(st.sampled_from(("buy", "trade-in", "Trade In", "tradein", "lease", "", " ")))
    return tag("vehicle", "".join(children[: draw(st.integers(0, len(children)))]), interest=interest)


@st.composite
def adf_documents(draw: st.DrawFn) -> tuple[str, int]:
    prospects = []
    for _ in range(count := draw(st.integers(0, 3))):
        parts = [tag("requestdate", draw(adf_text))]
        parts += [draw(adf_vehicles()) for _ in range(draw(st.integers(0, 3)))]
        contacts = "".join(draw(adf_contacts()) for _ in range(draw(st.integers(0, 3))))
        timeframe = tag("timeframe", tag("earliestdate", draw(adf_text)) + tag("latestdate", draw(adf_text)))
        parts.append(tag("customer", contacts + tag("comments", draw(adf_text)) + timeframe))
        parts.append(tag("vendor", tag("vendorname", draw(adf_text)) + draw(adf_contacts())))
        parts.append(tag("provider", tag("name", draw(adf_text))))
        draw(st.randoms()).shuffle(parts)
        prospects.append(tag("prospect", "".join(parts[: draw(st.integers(0, len(parts)))])))
    namespace = draw(st.sampled_from(("", ' xmlns="http://www.adf.org/"', ' xmlns:a="urn:a"')))
    prolog = draw(st.sampled_from(('<?xml version="1.0"?>', '<?ADF VERSION "1.0"?>', "")))
    return f"{prolog}<adf{namespace}>{''.join(prospects)}</adf>", count


@fuzz(120)
@given(adf_documents())
@example(
    (
        '<adf><prospect><customer><contact><address><street line="²">x</street></address>'
        "</contact></customer></prospect></adf>",
        1,
    )
)
@example(
    (
        '<adf><prospect><vehicle interest="trade-in"><odometer>' + "9" * 5000 + "</odometer></vehicle>"
        "</prospect></adf>",
        1,
    )
)
@example(("<adf><prospect><vehicle><price>" + "9" * 5000 + "</price></vehicle></prospect></adf>", 1))
def test_adf_documents_give_one_field_set_per_prospect(document: tuple[str, int]) -> None:
    text, count = document
    body = text.encode()
    parsed = parse_or_refuse(body, "application/xml")
    if count == 0:
        assert parsed is None
        return
    assert parsed is not None and parsed.vertical_hint == "auto_sales"
    prospects = parse_adf_prospects(body)
    assert len(prospects) == count
    for fields in prospects:
        for name in ("vehicle_price_cents", "trade_in_mileage"):
            value = fields.get(name)
            assert value is None or (isinstance(value, int) and 0 <= value < 10**15)


@fuzz(120)
@given(mutated(adf_documents().map(lambda document: document[0].encode())))
def test_mutated_adf_documents_give_fields_or_a_clear_error(body: bytes) -> None:
    parse_or_refuse(body, "application/xml")
    try:
        prospects = parse_adf_prospects(body)
    except ExchangeError as error:
        assert_clear(error)
    else:
        assert output_size(prospects) <= 4 * len(body) + 300 * len(prospects)
