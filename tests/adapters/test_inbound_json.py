from __future__ import annotations

import pytest

from adapters.inbound import nest_dotted, parse_lead_body
from exchange.errors import BadRequest

JSON = "application/json"


def test_json_lead_keeps_values_and_types() -> None:
    body = b"""{
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com",
        "phone": "+1 415 555 0100", "zip": "94107", "sub_id": "fb-17",
        "vehicle_year": 2019, "is_homeowner": true, "credit_score": null,
        "consent": {"text": "I agree", "timestamp": "2025-01-01T10:00:00Z"}
    }"""
    fields = parse_lead_body(body, JSON).fields
    assert fields["first_name"] == "Ada"
    assert fields["vehicle_year"] == 2019
    assert fields["is_homeowner"] is True
    assert fields["credit_score"] is None
    assert fields["consent"] == {"text": "I agree", "timestamp": "2025-01-01T10:00:00Z"}
    assert parse_lead_body(body, JSON).vertical_hint is None


def test_dotted_json_keys_nest_and_merge_with_objects() -> None:
    body = b'{"consent.text": "x", "consent": {"timestamp": "t"}, "consent.jornaya_leadid": "j"}'
    assert parse_lead_body(body, JSON).fields == {
        "consent": {"text": "x", "timestamp": "t", "jornaya_leadid": "j"}
    }


def test_names_with_empty_dotted_segments_stay_as_they_are() -> None:
    assert nest_dotted({"a..b": 1, ".c": 2, "d.": 3}) == {"a..b": 1, ".c": 2, "d.": 3}


def test_a_name_both_value_and_group_is_refused_naming_it() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b'{"consent": "yes", "consent.text": "x"}', JSON)
    assert caught.value.code == "conflicting_fields"
    assert caught.value.errors[0].field == "consent"


def test_json_with_a_byte_order_mark_is_read() -> None:
    assert parse_lead_body(b'\xef\xbb\xbf{"zip": "10001"}', JSON).fields == {"zip": "10001"}


def test_json_in_a_declared_non_utf8_charset_is_decoded() -> None:
    body = '{"city": "Zürich"}'.encode("utf-16")
    assert parse_lead_body(body, "application/json; charset=utf-16").fields == {"city": "Zürich"}


@pytest.mark.parametrize("body", [b"[1, 2]", b'"Ada"', b"42", b"null", b"true"])
def test_json_top_level_must_be_an_object(body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(body, JSON)
    assert caught.value.code == "invalid_body"


def test_malformed_json_names_the_position() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b'{"first_name": "Ada",}', JSON)
    assert caught.value.code == "malformed_json"
    assert "byte 21" in caught.value.message


def test_invalid_utf8_in_json_names_the_byte_offset() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b'{"first_name": "Ad\xff"}', JSON)
    assert caught.value.code == "invalid_encoding"
    assert "offset 18" in caught.value.message


def test_deeply_nested_json_is_refused_not_crashed() -> None:
    depth = 5000
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b'{"a":' * depth + b"1" + b"}" * depth, JSON)
    assert caught.value.code == "invalid_body"
