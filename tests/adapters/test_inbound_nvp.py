from __future__ import annotations

import pytest

from adapters.inbound import parse_lead_body
from exchange.errors import BadRequest, UnsupportedMediaType

FORM = "application/x-www-form-urlencoded"


def test_form_lead_decodes_plus_and_percent_escapes() -> None:
    body = (
        b"first_name=Mary+Jo&last_name=O%27Neil&email=mj%40example.com&phone=%28555%29+010-2030"
        b"&address=12+Main+St%2C+Apt+3&zip=02134&sub_id="
    )
    assert parse_lead_body(body, FORM).fields == {
        "first_name": "Mary Jo",
        "last_name": "O'Neil",
        "email": "mj@example.com",
        "phone": "(555) 010-2030",
        "address": "12 Main St, Apt 3",
        "zip": "02134",
        "sub_id": "",
    }


def test_repeated_form_names_keep_the_last_value() -> None:
    assert parse_lead_body(b"zip=1&zip=2&zip=3", FORM).fields == {"zip": "3"}


def test_dotted_form_names_nest() -> None:
    body = b"consent.text=I+agree&consent.timestamp=2025-01-01T10%3A00%3A00Z&first_name=Ada"
    assert parse_lead_body(body, FORM).fields == {
        "consent": {"text": "I agree", "timestamp": "2025-01-01T10:00:00Z"},
        "first_name": "Ada",
    }


def test_form_names_without_value_or_name_are_read_sensibly() -> None:
    assert parse_lead_body(b"a&=orphan&&b=1\r\n", FORM).fields == {"a": "", "b": "1"}


def test_latin1_form_body_is_decoded_with_the_declared_charset() -> None:
    body = "first_name=José&city=Düsseldorf".encode("latin-1") + b"&last_name=Pe%F1a"
    fields = parse_lead_body(body, f"{FORM}; charset=ISO-8859-1").fields
    assert fields == {"first_name": "José", "city": "Düsseldorf", "last_name": "Peña"}


def test_form_body_defaults_to_utf8() -> None:
    body = "city=Köln".encode() + b"&last_name=Pe%C3%B1a"
    assert parse_lead_body(body, FORM).fields == {"city": "Köln", "last_name": "Peña"}


def test_invalid_utf8_in_a_form_names_the_byte_offset() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b"zip=10001&first_name=Jos\xe9", FORM)
    assert caught.value.code == "invalid_encoding"
    assert "offset 24" in caught.value.message


def test_undecodable_percent_escapes_are_an_encoding_error() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b"zip=10001&first_name=Jos%E9", FORM)
    assert caught.value.code == "invalid_encoding"
    assert "offset 21" in caught.value.message  # where the value "Jos%E9" starts


def test_form_in_a_charset_that_is_not_ascii_compatible_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_lead_body("zip=1".encode("utf-16"), f"{FORM}; charset=utf-16")
    assert caught.value.code == "unsupported_charset"
