"""Bad input: a clear 4xx naming the problem, never a 500, and nothing written."""

from __future__ import annotations

import time

import pytest

from tests.api.test_intake import count_leads
from tests.conftest import Market, auto_insurance_lead

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE lead [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<lead><first_name>&xxe;</first_name></lead>"""

LAUGHS = (
    b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol">"""
    + b"".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'.encode()
        for i in range(1, 10)
    )
    + b"""]><lead><first_name>&lol9;</first_name></lead>"""
)


@pytest.mark.parametrize(
    ("content_type", "body", "status", "code"),
    [
        ("application/json", b'{"first_name": "Ada",', 400, "malformed_json"),
        ("application/json", b"[1, 2]", 400, "invalid_body"),
        ("application/json", b"", 400, "empty_body"),
        ("application/json", b'{"first_name": "\xff\xfe"}', 400, "invalid_encoding"),
        ("application/xml", b"<lead><first_name>Ada</lead>", 400, "malformed_xml"),
        ("application/xml", XXE, 400, "unsafe_xml"),
        ("application/xml", LAUGHS, 400, "unsafe_xml"),
        ("text/plain", b"first_name=Ada", 415, "unsupported_media_type"),
        ("application/x-www-form-urlencoded", b"first_name=%FF%FE", 400, "invalid_encoding"),
    ],
)
async def test_unreadable_bodies_are_refused_and_nothing_is_written(
    market: Market, database_url: str, content_type: str, body: bytes, status: int, code: str
) -> None:
    publisher = await market.publisher()
    started = time.perf_counter()
    answer = await market.post_lead(publisher, content=body, headers={"Content-Type": content_type})
    assert time.perf_counter() - started < 2
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == code
    assert answer.json()["message"]
    assert await count_leads(database_url) == 0


async def test_body_over_the_limit_gets_413(market: Market, database_url: str) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead(comments="x" * (1024 * 1024 + 10))
    answer = await market.post_lead(publisher, lead)
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"
    assert await count_leads(database_url) == 0


async def test_unknown_vertical_is_named(market: Market, database_url: str) -> None:
    publisher = await market.publisher()
    answer = await market.post_lead(publisher, auto_insurance_lead(), vertical="pet_insurance")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "vertical"
    assert answer.json()["errors"][0]["code"] == "unknown_vertical"
    assert await count_leads(database_url) == 0


async def test_missing_vertical_without_default_is_named(market: Market) -> None:
    publisher = await market.publisher()
    answer = await market.post_lead(publisher, auto_insurance_lead(), vertical=None)
    assert answer.status_code == 422
    assert answer.json()["errors"][0] == {
        "field": "vertical",
        "code": "required",
        "message": "name the vertical: ?vertical=auto_insurance",
    }


async def test_bad_mode_is_a_named_4xx(market: Market) -> None:
    publisher = await market.publisher()
    answer = await market.post_lead(publisher, auto_insurance_lead(), mode="later")
    assert 400 <= answer.status_code < 500
    assert "mode" in answer.text


async def test_vertical_with_unknown_field_type_is_refused(market: Market) -> None:
    answer = await market.client.post(
        "/v1/verticals",
        json={"key": "pets", "fields": [{"name": "breed", "type": "colour", "required": True}]},
        headers=market.admin,
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"].startswith("fields")


async def test_publisher_with_bad_payout_is_refused_naming_the_field(market: Market) -> None:
    answer = await market.client.post(
        "/v1/publishers",
        json={"name": "X", "payout": {"model": "revshare", "percent": 140}},
        headers=market.admin,
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "payout.percent"


async def test_buyer_with_unknown_timezone_is_refused(market: Market) -> None:
    answer = await market.client.post(
        "/v1/buyers", json={"name": "B", "timezone": "Mars/Olympus"}, headers=market.admin
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "invalid_timezone"


async def test_malformed_json_to_an_account_endpoint_is_400(market: Market) -> None:
    answer = await market.client.post(
        "/v1/buyers", content=b"{nope", headers={**market.admin, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "bad_request"
