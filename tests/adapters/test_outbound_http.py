"""The http delivery adapter against real loopback buyers: bodies, mapping, timeouts, failures."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
import pytest
from aiohttp import web
from lxml import etree

from adapters.outbound.http import (
    HttpAdapter,
    HttpClient,
    build_body,
    check_mapping,
    literal_secrets,
    mask,
)
from exchange.errors import Invalid
from exchange.types import Consent
from tests.adapters.test_netguard import FixedResolver

LEAD: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "phone": "+14155550100",
    "state": "CA",
    "zip": "94107",
    "homeowner": True,
    "age": 36,
    "consent": {"text": "I agree", "tcpa": True},
    "notes": None,
}


RECEIVED = web.AppKey("received", list[dict[str, Any]])


class Buyer(msgspec.Struct, kw_only=True):
    """A running fake buyer: its base URL and what it received."""

    url: str
    received: list[dict[str, Any]] = msgspec.field(default_factory=list)


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    request.app[RECEIVED].append(
        {
            "method": request.method,
            "content_type": request.headers.get("Content-Type"),
            "headers": dict(request.headers),
            "body": body,
            "query": request.query_string,
        }
    )
    return web.json_response({"ok": True, "bytes": len(body)})


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(2)
    return web.Response(text="too late")


async def fail(request: web.Request) -> web.Response:
    return web.Response(status=500, text="Internal Server Error")


async def big(request: web.Request) -> web.Response:
    return web.Response(body=b"x" * (2 * 1024 * 1024), content_type="text/plain")


async def status(request: web.Request) -> web.Response:
    return web.Response(status=int(request.match_info["code"]), text="as asked")


async def moved(request: web.Request) -> web.Response:
    raise web.HTTPFound("/echo")


@pytest.fixture
async def buyer() -> AsyncIterator[Buyer]:
    app = web.Application()
    app[RECEIVED] = []
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/slow", slow)
    app.router.add_post("/slow", slow)
    app.router.add_post("/fail", fail)
    app.router.add_post("/big", big)
    app.router.add_post("/moved", moved)
    app.router.add_post("/status/{code}", status)
    runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield Buyer(url=f"http://{host}:{port}", received=app[RECEIVED])
    finally:
        await runner.cleanup()


@pytest.fixture
async def client() -> AsyncIterator[HttpClient]:
    http_client = HttpClient(allow_private=True)
    try:
        yield http_client
    finally:
        await http_client.close()


# --- bodies ------------------------------------------------------------------------------


def test_json_body_without_mapping_keeps_every_field_and_nesting() -> None:
    body, content_type = build_body("json", LEAD, None)
    assert content_type == "application/json"
    expected = {key: value for key, value in LEAD.items() if value is not None}
    assert msgspec.json.decode(body) == expected


def test_form_body_flattens_nested_groups_with_dots_and_spells_booleans() -> None:
    body, content_type = build_body("form", LEAD, None)
    assert content_type == "application/x-www-form-urlencoded"
    pairs = parse_qsl(body.decode("ascii"))
    assert ("homeowner", "true") in pairs
    assert ("consent.text", "I agree") in pairs
    assert ("consent.tcpa", "true") in pairs
    assert ("age", "36") in pairs
    assert "notes" not in dict(pairs)


def test_xml_body_nests_elements_under_lead() -> None:
    body, content_type = build_body("xml", LEAD, None)
    assert content_type == "application/xml"
    root = etree.fromstring(body)
    assert root.tag == "lead"
    assert root.findtext("consent/text") == "I agree"
    assert root.findtext("consent/tcpa") == "true"
    assert root.findtext("homeowner") == "true"
    assert root.find("notes") is None


def test_xml_body_survives_odd_names_and_characters() -> None:
    body, _ = build_body("xml", {"my field": "a\x00b<c>", "1st": ["x", "y"]}, None)
    root = etree.fromstring(body)
    assert root.findtext("my_field") == "ab<c>"
    assert [element.text for element in root.iter("_1st")] == ["x", "y"]


def test_mapping_renames_fields_adds_literals_and_omits_missing_ones() -> None:
    mapping = {
        "FirstName": "first_name",
        "St": "state",
        "TCPA": "consent.text",
        "Key": "=secret123",
        "Fax": "fax",
    }
    body, _ = build_body("json", LEAD, mapping)
    assert msgspec.json.decode(body) == {
        "FirstName": "Ada",
        "St": "CA",
        "TCPA": "I agree",
        "Key": "secret123",
    }


def test_structs_and_datetimes_are_written_as_text() -> None:
    consent = Consent(text="yes", timestamp=datetime(2025, 3, 1, 12, 0, tzinfo=UTC))
    body, _ = build_body("form", {"consent": consent}, None)
    assert dict(parse_qsl(body.decode())) == {
        "consent.text": "yes",
        "consent.timestamp": "2025-03-01T12:00:00Z",
    }


def test_mapping_checks_pass_for_field_names_and_literals() -> None:
    check_mapping(
        {"st": "state", "Key": "=k", "TF": "consent.trustedform_cert_url"},
        personal_allowed=False,
        field="delivery.ping.mapping",
        format="xml",
    )
    check_mapping({"Email": "email"}, personal_allowed=True, field="delivery.post.mapping")


@pytest.mark.parametrize(
    ("mapping", "personal_allowed", "format", "field", "code"),
    [
        ({"Email": "email"}, False, None, "delivery.ping.mapping.Email", "personal_data_in_ping"),
        ({"ip": "ip_address"}, False, None, "delivery.ping.mapping.ip", "personal_data_in_ping"),
        ({"F": "first name"}, True, None, "delivery.ping.mapping.F", "invalid_mapping"),
        ({"F": "state;drop"}, True, None, "delivery.ping.mapping.F", "invalid_mapping"),
        ({"F": ""}, True, None, "delivery.ping.mapping.F", "invalid_mapping"),
        ({"First Name": "first_name"}, True, "xml", "delivery.ping.mapping.First Name", "invalid_mapping"),
        ({"ns:x": "state"}, True, "xml", "delivery.ping.mapping.ns:x", "invalid_mapping"),
        ({" ": "state"}, True, None, "delivery.ping.mapping. ", "invalid_mapping"),
    ],
)
def test_mapping_checks_refuse_naming_the_buyer_field(
    mapping: dict[str, str], personal_allowed: bool, format: Any, field: str, code: str
) -> None:
    with pytest.raises(Invalid) as caught:
        check_mapping(
            mapping, personal_allowed=personal_allowed, field="delivery.ping.mapping", format=format
        )
    [error] = caught.value.errors
    assert (error.field, error.code) == (field, code)


def test_json_and_form_keep_buyer_names_xml_could_not() -> None:
    check_mapping({"First Name": "first_name"}, personal_allowed=True, field="m", format="json")


def test_masking_hides_literal_secrets_and_header_values_in_every_spelling() -> None:
    mapping = {"Key": "=s3cr&t+key", "Src": "=abc", "St": "state"}
    secrets = [*literal_secrets(mapping), "Bearer tok-123"]
    assert literal_secrets(mapping) == ["s3cr&t+key"]  # "abc" is too short to be a credential
    form, _ = build_body("form", LEAD, mapping)
    xml, _ = build_body("xml", LEAD, mapping)
    json, _ = build_body("json", LEAD, {"Key": '=pa"ss\\word'})
    assert "s3cr" not in mask(form.decode(), secrets)
    assert "s3cr" not in mask(xml.decode(), secrets)
    assert "pa" not in mask(json.decode(), ['pa"ss\\word'])
    assert mask("Authorization: Bearer tok-123", secrets) == "Authorization: ***"


# --- sending -----------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["json", "form", "xml"])
async def test_bodies_arrive_as_built(buyer: Buyer, client: HttpClient, format: Any) -> None:
    body, content_type = build_body(format, LEAD, {"FirstName": "first_name", "Key": "=secret123"})
    answer = await client.send("POST", f"{buyer.url}/echo", {}, body, content_type, 2000)
    assert answer.error is None
    assert answer.status == 200
    assert msgspec.json.decode(answer.body) == {"ok": True, "bytes": len(body)}
    assert answer.content_type is not None and answer.content_type.startswith("application/json")
    [received] = buyer.received
    assert received["body"] == body
    assert received["content_type"] == content_type


async def test_buyer_headers_are_sent_and_may_set_the_content_type(buyer: Buyer, client: HttpClient) -> None:
    headers = {"Authorization": "Bearer tok-123", "content-type": "application/vnd.buyer+json"}
    await client.send("PUT", f"{buyer.url}/echo", headers, b"{}", "application/json", 2000)
    [received] = buyer.received
    assert received["method"] == "PUT"
    assert received["headers"]["Authorization"] == "Bearer tok-123"
    assert received["content_type"] == "application/vnd.buyer+json"


async def test_a_get_carries_a_form_as_its_query(buyer: Buyer, client: HttpClient) -> None:
    body, content_type = build_body("form", {"st": "CA", "zip": "94107"}, None)
    await client.send("GET", f"{buyer.url}/echo", {}, body, content_type, 2000)
    [received] = buyer.received
    assert received["query"] == "st=CA&zip=94107"
    assert received["body"] == b""


async def test_timeout_fires_within_its_bound(buyer: Buyer, client: HttpClient) -> None:
    started = time.perf_counter()
    answer = await client.send("POST", f"{buyer.url}/slow", {}, b"{}", "application/json", 100)
    elapsed = time.perf_counter() - started
    assert answer.error == "timeout"
    assert answer.status is None
    assert elapsed < 0.5
    assert 90 <= answer.latency_ms < 500


async def test_connection_refused_is_reported_not_raised(client: HttpClient) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    answer = await client.send("POST", f"http://127.0.0.1:{port}/", {}, b"{}", "application/json", 1000)
    assert answer.status is None
    assert answer.error == f"connection refused: 127.0.0.1:{port}"


async def test_a_server_error_is_an_answer_with_its_status(buyer: Buyer, client: HttpClient) -> None:
    answer = await client.send("POST", f"{buyer.url}/fail", {}, b"{}", "application/json", 1000)
    assert (answer.status, answer.body, answer.error) == (500, b"Internal Server Error", None)


async def test_an_oversized_answer_is_cut_at_one_mebibyte(buyer: Buyer, client: HttpClient) -> None:
    answer = await client.send("POST", f"{buyer.url}/big", {}, b"", None, 5000)
    assert answer.status == 200
    assert len(answer.body) == 1024 * 1024
    assert answer.error == "answer over 1048576 bytes"


async def test_redirects_are_not_followed(buyer: Buyer, client: HttpClient) -> None:
    answer = await client.send("POST", f"{buyer.url}/moved", {}, b"{}", "application/json", 1000)
    assert answer.status == 302
    assert buyer.received == []


async def test_an_unusable_url_is_reported(client: HttpClient) -> None:
    answer = await client.send("POST", "not a url", {}, b"", None, 1000)
    assert answer.status is None
    assert answer.error is not None and answer.error.startswith(("invalid url", "invalid request"))


# --- the guard at send time --------------------------------------------------------------


async def test_guard_refuses_loopback_when_private_is_not_allowed(buyer: Buyer) -> None:
    guarded = HttpClient(allow_private=False)
    try:
        answer = await guarded.send("POST", f"{buyer.url}/echo", {}, b"{}", "application/json", 1000)
        port = buyer.url.rsplit(":", 1)[1]
        by_name = await guarded.send(
            "POST", f"http://localhost:{port}/echo", {}, b"{}", "application/json", 1000
        )
        # Numeric spellings aiohttp resolves (or refuses) rather than treating as literals.
        numeric = await guarded.send("POST", f"http://0x7f000001:{port}/echo", {}, b"", None, 1000)
        short = await guarded.send("POST", f"http://127.1:{port}/echo", {}, b"", None, 1000)
    finally:
        await guarded.close()
    assert answer.status is None
    assert answer.error == "private destination: 127.0.0.1 is not a public address"
    assert by_name.error is not None and by_name.error.startswith("private destination: ")
    assert numeric.error is not None and numeric.error.startswith("private destination: ")
    assert short.status is None and short.error is not None
    assert buyer.received == []


async def test_guard_refuses_a_name_rebound_to_loopback(buyer: Buyer) -> None:
    port = buyer.url.rsplit(":", 1)[1]
    url = f"http://buyer.example:{port}/echo"
    guarded = HttpClient(allow_private=False, inner_resolver=FixedResolver("127.0.0.1"))
    open_client = HttpClient(allow_private=True, inner_resolver=FixedResolver("127.0.0.1"))
    try:
        refused = await guarded.send("POST", url, {}, b"{}", "application/json", 1000)
        allowed = await open_client.send("POST", url, {}, b"{}", "application/json", 1000)
    finally:
        await guarded.close()
        await open_client.close()
    assert refused.error == "private destination: buyer.example resolves to no public address"
    assert allowed.status == 200
    assert len(buyer.received) == 1


# --- the adapter -------------------------------------------------------------------------


async def test_adapter_posts_the_mapped_lead_and_masks_secrets_for_the_audit(buyer: Buyer) -> None:
    adapter = HttpAdapter(HttpClient(allow_private=True))
    delivery = {
        "adapter": "http",
        "post": {
            "url": f"{buyer.url}/echo",
            "format": "form",
            "mapping": {"FirstName": "first_name", "Key": "=secret123"},
            "headers": {"X-Api-Key": "hdr-secret"},
            "response": {"format": "json", "accepted": {"path": "ok"}},
        },
    }
    try:
        config = adapter.configure(delivery, allow_private=True, field="delivery")
        request = adapter.request(config, "post", LEAD)
        result = await adapter.send(request, key="dlv_1")
    finally:
        await adapter.close()
    assert result.status == 200 and result.error is None and not result.transient
    [received] = buyer.received
    assert received["body"] == b"FirstName=Ada&Key=secret123"
    assert received["headers"]["X-Api-Key"] == "hdr-secret"
    assert received["headers"]["Idempotency-Key"] == "dlv_1"
    audit = request.audit("dlv_1")
    assert audit["body"] == "FirstName=Ada&Key=***"
    assert audit["to"] == f"{buyer.url}/echo" and audit["method"] == "POST"
    assert "hdr-secret" not in str(audit)
    assert request.response == {"format": "json", "accepted": {"path": "ok"}}


async def test_adapter_ping_never_carries_personal_fields(buyer: Buyer) -> None:
    adapter = HttpAdapter(HttpClient(allow_private=True))
    step = {"url": f"{buyer.url}/echo", "format": "json", "timeout_ms": 1000}
    config = adapter.configure({"adapter": "http", "ping": step, "post": step}, allow_private=True, field="d")
    try:
        result = await adapter.send(adapter.request(config, "ping", LEAD), key=None)
    finally:
        await adapter.close()
    assert result.status == 200
    sent = msgspec.json.decode(buyer.received[0]["body"])
    assert sent["state"] == "CA"
    assert not {"first_name", "last_name", "email", "phone"} & set(sent)


async def test_a_server_error_is_worth_another_try_and_a_refusal_is_not(buyer: Buyer) -> None:
    adapter = HttpAdapter(HttpClient(allow_private=True))
    try:
        answers = {}
        for path in ("status/503", "status/400"):
            config = adapter.configure(
                {"adapter": "http", "post": {"url": f"{buyer.url}/{path}"}}, allow_private=True, field="d"
            )
            answers[path] = await adapter.send(adapter.request(config, "post", LEAD), key="k")
    finally:
        await adapter.close()
    assert answers["status/503"].status == 503 and answers["status/503"].transient
    assert answers["status/400"].status == 400 and not answers["status/400"].transient


@pytest.mark.parametrize(
    ("delivery", "field", "code"),
    [
        ({"ping": {"url": "http://93.184.216.34/"}}, "delivery.post", "required"),
        ({"post": {"url": "http://10.0.0.1/"}}, "delivery.post.url", "private_destination"),
        ({"post": {"url": "ftp://93.184.216.34/"}}, "delivery.post.url", "invalid_url"),
        ({"post": {"url": "http://93.184.216.34/", "format": "csv"}}, "delivery.post", "invalid"),
        (
            {
                "post": {"url": "http://93.184.216.34/"},
                "ping": {"url": "http://93.184.216.34/", "mapping": {"Phone": "phone"}},
            },
            "delivery.ping.mapping.Phone",
            "personal_data_in_ping",
        ),
        (
            {"post": {"url": "http://93.184.216.34/", "format": "xml", "mapping": {"a b": "state"}}},
            "delivery.post.mapping.a b",
            "invalid_mapping",
        ),
        (
            {"post": {"url": "http://93.184.216.34/", "headers": {"X-Key": "a\r\nb"}}},
            "delivery.post.headers.X-Key",
            "invalid_header",
        ),
    ],
)
def test_adapter_check_refuses_unusable_deliveries(delivery: dict[str, Any], field: str, code: str) -> None:
    adapter = HttpAdapter(HttpClient(allow_private=False))
    with pytest.raises(Invalid) as caught:
        adapter.configure({"adapter": "http", **delivery}, allow_private=False, field="delivery")
    [error] = caught.value.errors
    assert (error.field, error.code) == (field, code)
