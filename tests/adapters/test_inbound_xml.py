from __future__ import annotations

import time
from pathlib import Path

import pytest

from adapters.inbound import parse_adf_prospects, parse_lead_body
from exchange.errors import BadRequest, UnsupportedMediaType

FIXTURES = Path(__file__).parents[1] / "fixtures" / "inbound"
XML = "application/xml"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<lead><first_name>&lol9;</first_name></lead>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0" encoding="UTF-8"?>
<?adf version="1.0"?>
<!DOCTYPE adf [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<adf><prospect><customer><contact>
  <name part="first">&secret;</name><email>x@example.com</email>
</contact></customer></prospect></adf>
"""


def test_lead_document_reads_fields_nested_groups_and_dotted_names() -> None:
    parsed = parse_lead_body((FIXTURES / "lead_auto_insurance.xml").read_bytes(), XML)
    assert parsed.vertical_hint is None
    assert parsed.fields == {
        "first_name": "Sam",
        "last_name": "Okafor",
        "email": "sam.okafor@example.com",
        "phone": "(614) 555-0123",
        "address": "88 Elm Street",
        "city": "Columbus",
        "state": "OH",
        "zip": "43215",
        "sub_id": "",
        "consent": {
            "text": "I agree to be contacted by Example Insurance & partners.",
            "timestamp": "2025-02-14T12:30:00Z",
            "trustedform_cert_url": "https://cert.trustedform.com/abc123",
        },
        "current_insurer": "Acme Mutual",
    }


def test_namespaced_lead_elements_match_by_local_name() -> None:
    body = b'<l:lead xmlns:l="urn:leads"><l:zip>10001</l:zip><state>NY</state></l:lead>'
    assert parse_lead_body(body, XML).fields == {"zip": "10001", "state": "NY"}


def test_repeated_lead_element_keeps_the_last() -> None:
    body = b"<lead><phone>1</phone><phone> 2 </phone></lead>"
    assert parse_lead_body(body, XML).fields == {"phone": "2"}


def test_xml_root_other_than_lead_or_adf_is_refused() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b"<order><id>1</id></order>", XML)
    assert caught.value.code == "invalid_body"
    assert "<order>" in caught.value.message


def test_malformed_xml_names_line_and_column() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b"<lead>\n  <zip>10001</zap>\n</lead>", XML)
    assert caught.value.code == "malformed_xml"
    assert "line 2, column" in caught.value.message


def test_line_numbers_stay_true_after_leading_instructions_are_removed() -> None:
    body = '<?ADF VERSION "1.0"?>\n<?XML VERSION “1.0”?>\n<lead>\n<zip>1</zap>'.encode()
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(body, XML)
    assert caught.value.code == "malformed_xml"
    assert "line 4, column 13" in caught.value.message


def test_broken_leading_processing_instructions_are_tolerated() -> None:
    body = '<?ADF VERSION "1.0"?>\n<?XML VERSION “1.0”?>\n<lead><zip>1</zip></lead>'.encode()
    assert parse_lead_body(body, XML).fields == {"zip": "1"}


def test_comments_and_instructions_inside_the_document_are_dropped() -> None:
    body = b"<lead><!-- note --><zip>1<!-- x -->0</zip><?app skip?></lead>"
    assert parse_lead_body(body, XML).fields == {"zip": "10"}


def test_xml_declaration_encoding_is_honoured() -> None:
    body = '<?xml version="1.0" encoding="ISO-8859-1"?><lead><city>Malmö</city></lead>'
    assert parse_lead_body(body.encode("latin-1"), XML).fields == {"city": "Malmö"}


def test_content_type_charset_overrides_the_declaration() -> None:
    body = '<?xml version="1.0" encoding="utf-8"?><lead><city>Malmö</city></lead>'
    parsed = parse_lead_body(body.encode("latin-1"), "text/xml; charset=latin-1")
    assert parsed.fields == {"city": "Malmö"}


def test_utf16_xml_with_a_byte_order_mark_is_read() -> None:
    body = '<?xml version="1.0" encoding="UTF-16"?><lead><city>Łódź</city></lead>'
    assert parse_lead_body(body.encode("utf-16"), XML).fields == {"city": "Łódź"}


def test_utf8_bytes_mislabelled_utf16_are_read_as_utf8() -> None:
    body = '<?xml version="1.0" encoding="utf-16"?><lead><city>Köln</city></lead>'.encode()
    assert parse_lead_body(body, XML).fields == {"city": "Köln"}


def test_invalid_utf8_in_xml_names_the_byte_offset() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b"<lead><city>M\xe9xico</city></lead>", XML)
    assert caught.value.code == "invalid_encoding"
    assert "offset 13" in caught.value.message


def test_unknown_declared_xml_encoding_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_lead_body(b'<?xml version="1.0" encoding="x-nope"?><lead/>', XML)
    assert caught.value.code == "unsupported_charset"


def test_billion_laughs_is_refused_before_expansion() -> None:
    started = time.perf_counter()
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(BILLION_LAUGHS, XML)
    assert caught.value.code == "unsafe_xml"
    assert time.perf_counter() - started < 0.5


def test_external_entity_is_refused_without_being_read() -> None:
    started = time.perf_counter()
    for parse in (
        lambda: parse_lead_body(EXTERNAL_ENTITY, XML),
        lambda: parse_adf_prospects(EXTERNAL_ENTITY),
    ):
        with pytest.raises(BadRequest) as caught:
            parse()
        assert caught.value.code == "unsafe_xml"
        assert "root:" not in caught.value.message
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE lead SYSTEM "http://example.com/lead.dtd"><lead/>',
        b"<!-- hidden --> <!doctype lead [<!ENTITY a 'b'>]><lead>&a;</lead>",
        '<!DOCTYPE lead [<!ENTITY a "b">]><lead>&a;</lead>'.encode("utf-16"),
        # Two byte order marks: libxml2 skips the second one and would read the DTD after it.
        b"\xef\xbb\xbf\xef\xbb\xbf<!DOCTYPE lead [<!ENTITY a 'b'>]><lead>&a;</lead>",
    ],
)
def test_any_doctype_is_refused_whatever_its_spelling_or_encoding(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(body, XML)
    assert caught.value.code == "unsafe_xml"


def test_undeclared_entity_reference_is_malformed_not_resolved() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b"<lead><first_name>&xxe;</first_name></lead>", XML)
    assert caught.value.code == "malformed_xml"
