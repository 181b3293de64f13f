from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from adapters.inbound import (
    ENTRY_POINT_GROUP,
    ParsedBody,
    Registry,
    default_registry,
    parse_lead_body,
    parsers_from_entry_points,
)
from adapters.inbound.registry import BUILTIN_PARSERS, split_content_type
from exchange.errors import BadRequest, UnsupportedMediaType


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"first_name": "Ada"}'),
        ("Application/JSON; charset=UTF-8", b'{"first_name": "Ada"}'),
        ("application/vnd.acme.lead+json", b'{"first_name": "Ada"}'),
        ("application/x-www-form-urlencoded", b"first_name=Ada"),
        ("application/xml", b"<lead><first_name>Ada</first_name></lead>"),
        ("text/xml; charset=utf-8", b"<lead><first_name>Ada</first_name></lead>"),
        ("application/lead+xml", b"<lead><first_name>Ada</first_name></lead>"),
    ],
)
def test_each_supported_media_type_reads_the_same_lead(content_type: str, body: bytes) -> None:
    assert parse_lead_body(body, content_type) == ParsedBody(fields={"first_name": "Ada"})


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=x", "json"])
def test_unsupported_media_type_is_refused_listing_the_supported_ones(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_lead_body(b'{"first_name": "Ada"}', content_type)
    assert caught.value.code == "unsupported_media_type"
    assert caught.value.status_code == 415
    for supported in ("application/json", "application/x-www-form-urlencoded", "application/xml"):
        assert supported in caught.value.message


@pytest.mark.parametrize("content_type", [None, "", "  "])
def test_missing_content_type_is_refused_as_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_lead_body(b'{"first_name": "Ada"}', content_type)
    assert caught.value.code == "unsupported_media_type"
    assert "application/json" in caught.value.message


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/x-www-form-urlencoded", "application/xml"]
)
@pytest.mark.parametrize("body", [b"", b"  \r\n\t"])
def test_empty_body_is_refused_for_every_format(content_type: str, body: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(body, content_type)
    assert caught.value.code == "empty_body"


def test_unknown_charset_is_refused_as_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_lead_body(b"first_name=Ada", "application/x-www-form-urlencoded; charset=klingon")
    assert caught.value.code == "unsupported_charset"


def test_content_type_parameters_other_than_charset_are_ignored() -> None:
    assert split_content_type('application/json; version=2; charset="ISO-8859-1"') == (
        "application/json",
        "iso-8859-1",
    )
    assert split_content_type("application/xml") == ("application/xml", None)


def test_entry_point_parsers_are_loaded_and_other_entries_ignored() -> None:
    found = [
        EntryPoint(
            name="lines",
            value="tests.adapters.inbound_plugin_example:PARSER",
            group=ENTRY_POINT_GROUP,
        ),
        EntryPoint(
            name="outbound",
            value="tests.adapters.inbound_plugin_example:OUTBOUND_ADAPTER",
            group=ENTRY_POINT_GROUP,
        ),
        EntryPoint(
            name="a_class",
            value="tests.adapters.inbound_plugin_example:KeyValueLinesParser",
            group=ENTRY_POINT_GROUP,
        ),
    ]
    plugins = parsers_from_entry_points(found)
    assert [type(plugin).__name__ for plugin in plugins] == ["KeyValueLinesParser"]

    registry = Registry([*BUILTIN_PARSERS, *plugins])
    parsed = parse_lead_body(b"first_name: Ada\nzip: 10001", "text/plain", registry=registry)
    assert parsed.fields == {"first_name": "Ada", "zip": "10001"}
    # The built-in formats still answer beside the plugin.
    assert parse_lead_body(b"zip=10001", "application/x-www-form-urlencoded", registry=registry)


def test_default_registry_knows_the_builtin_media_types() -> None:
    media_types = default_registry().media_types
    for expected in (
        "application/json",
        "application/x-www-form-urlencoded",
        "application/xml",
        "text/xml",
    ):
        assert expected in media_types
