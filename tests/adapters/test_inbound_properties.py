"""Property tests: bodies survive their encoding, and no bytes crash a parser."""

from __future__ import annotations

from urllib.parse import urlencode

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.inbound import ParsedBody, parse_lead_body
from exchange.errors import ExchangeError

# Field names as publishers send them: no dots, since dotted names nest by design.
names = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="."), min_size=1, max_size=20
)
strings = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | strings
json_scalars |= st.floats(allow_nan=False, allow_infinity=False)

CONTENT_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "text/xml; charset=latin-1",
    "application/x-www-form-urlencoded; charset=windows-1252",
)


@given(st.dictionaries(names, strings, max_size=12))
def test_string_fields_survive_form_encoding(fields: dict[str, str]) -> None:
    body = urlencode(fields).encode("ascii")
    if not body:
        return  # an empty dict encodes to an empty body, refused as such
    assert parse_lead_body(body, "application/x-www-form-urlencoded").fields == fields


@given(st.dictionaries(names, strings, min_size=1, max_size=12))
def test_string_fields_survive_latin1_form_encoding(fields: dict[str, str]) -> None:
    latin1 = {
        name.encode("latin-1", "replace").decode("latin-1"): value.encode("latin-1", "replace").decode(
            "latin-1"
        )
        for name, value in fields.items()
    }
    body = urlencode(latin1, encoding="latin-1").encode("ascii")
    parsed = parse_lead_body(body, "application/x-www-form-urlencoded; charset=iso-8859-1")
    assert parsed.fields == latin1


@given(st.dictionaries(names, json_scalars, max_size=12))
def test_scalar_fields_survive_json_encoding(fields: dict[str, object]) -> None:
    parsed = parse_lead_body(msgspec.json.encode(fields), "application/json")
    assert parsed.fields == fields


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(CONTENT_TYPES),
    st.binary(max_size=300)
    | st.builds(
        lambda prefix, tail: prefix + tail,
        st.sampled_from([b"<lead>", b"<adf><prospect>", b'{"a":', b"a=", b"<?xml ", b"<!"]),
        st.binary(max_size=200),
    ),
)
def test_random_bytes_raise_only_exchange_errors(content_type: str, body: bytes) -> None:
    try:
        parsed = parse_lead_body(body, content_type)
    except ExchangeError as error:
        assert error.code
    else:
        assert isinstance(parsed, ParsedBody)
