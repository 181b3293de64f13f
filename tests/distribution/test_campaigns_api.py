"""Campaigns over the API: checked whole at save time, scoped by buyer; payments fund buyers."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from exchange.api.app import create_app
from exchange.settings import Settings
from tests.conftest import Market, bearer

PING = {
    "url": "http://127.0.0.1:9/ping",
    "response": {"format": "json", "accepted": {"path": "ok"}, "price": "bid"},
}
POST = {"url": "http://127.0.0.1:9/post", "format": "form"}


def body(buyer_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "buyer_id": buyer_id,
        "vertical": "auto_insurance",
        "pricing": {"model": "bid", "floor_cents": 500},
        "delivery": {"adapter": "http", "ping": PING, "post": POST},
        **overrides,
    }


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"filters": [{"field": "state", "op": "near", "value": "CA"}]}, "filters"),
        ({"filters": [{"field": "shoe_size", "op": "eq", "value": 9}]}, "filters.0.field"),
        ({"filters": [{"field": "state", "op": "between", "value": ["CA"]}]}, "filters.0.value"),
        ({"schedule": {"timezone": "Mars/Base", "hours": {"mon": ["08:00-20:00"]}}}, "schedule.timezone"),
        ({"schedule": {"timezone": "UTC", "hours": {"mon": ["8am-8pm"]}}}, "schedule.hours.mon.0"),
        ({"caps": [{"period": "day"}]}, "caps.0"),
        ({"vertical": "pets"}, "vertical"),
        ({"delivery": {"adapter": "pigeon", "post": POST}}, "delivery.adapter"),
        ({"delivery": {"adapter": "http", "post": POST}}, "delivery.ping"),
        (
            {"delivery": {"adapter": "http", "ping": {**PING, "url": "not a url"}, "post": POST}},
            "delivery.ping.url",
        ),
        (
            {"delivery": {"adapter": "http", "ping": {**PING, "mapping": {"mail": "email"}}, "post": POST}},
            "delivery.ping.mapping",
        ),
        (
            {
                "delivery": {
                    "adapter": "http",
                    "ping": PING,
                    "post": {**POST, "response": {"format": "text", "accepted": {"regex": "([unclosed"}}},
                }
            },
            "delivery.post.response.accepted.regex",
        ),
        (
            {
                "delivery": {
                    "adapter": "http",
                    "ping": PING,
                    "post": {**POST, "response": {"format": "xml", "accepted": {"path": "//[bad"}}},
                }
            },
            "delivery.post.response.accepted.path",
        ),
        (
            {
                "delivery": {
                    "adapter": "http",
                    "ping": PING,
                    "post": {**POST, "response": {"format": "json", "accepted": {"path": "a..b"}}},
                }
            },
            "delivery.post.response.accepted.path",
        ),
    ],
)
async def test_a_bad_campaign_is_refused_at_save_time_naming_the_field(
    market: Market, overrides: dict[str, Any], field: str
) -> None:
    buyer = await market.buyer()
    answer = await market.client.post("/v1/campaigns", json=body(buyer.id, **overrides), headers=market.admin)
    assert answer.status_code == 422, answer.text
    named = [e["field"] for e in answer.json()["errors"]]
    assert any(n.startswith(field) for n in named), named


async def test_private_destinations_are_refused_unless_allowed(database_url: str) -> None:
    settings = Settings(database_url=database_url, admin_key="k")
    async with AsyncTestClient(app=create_app(settings)) as client:
        buyer = (
            await client.post("/v1/buyers", json={"name": "B", "timezone": "UTC"}, headers=bearer("k"))
        ).json()
        answer = await client.post("/v1/campaigns", json=body(buyer["id"]), headers=bearer("k"))
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["code"] == "private_destination"


async def test_a_buyer_manages_only_its_own_campaigns(market: Market) -> None:
    mine, other = await market.buyer(name="Mine"), await market.buyer(name="Other")
    created = await market.client.post("/v1/campaigns", json=body(mine.id), headers=mine.auth)
    assert created.status_code == 201, created.text
    campaign_id = created.json()["id"]
    assert (
        await market.client.post("/v1/campaigns", json=body(other.id), headers=mine.auth)
    ).status_code == 404
    assert (await market.client.get(f"/v1/campaigns/{campaign_id}", headers=other.auth)).status_code == 404
    assert (
        await market.client.patch(f"/v1/campaigns/{campaign_id}", json={"weight": 3}, headers=other.auth)
    ).status_code == 404
    changed = await market.client.patch(f"/v1/campaigns/{campaign_id}", json={"weight": 3}, headers=mine.auth)
    assert changed.status_code == 200 and changed.json()["weight"] == 3
    listed = (await market.client.get("/v1/campaigns", headers=mine.auth)).json()["items"]
    assert [c["id"] for c in listed] == [campaign_id]
    publisher = await market.publisher()
    assert (
        await market.client.get(f"/v1/campaigns/{campaign_id}", headers=publisher.auth)
    ).status_code == 403


async def test_a_patch_is_checked_like_a_creation(market: Market) -> None:
    buyer = await market.buyer()
    campaign_id = (
        await market.client.post("/v1/campaigns", json=body(buyer.id), headers=market.admin)
    ).json()["id"]
    bad = await market.client.patch(
        f"/v1/campaigns/{campaign_id}",
        json={"filters": [{"field": "state", "op": "in", "value": []}]},
        headers=market.admin,
    )
    assert bad.status_code == 422
    unchanged = (await market.client.get(f"/v1/campaigns/{campaign_id}", headers=market.admin)).json()
    assert unchanged["filters"] == []


async def test_a_payment_is_recorded_once_per_reference(market: Market) -> None:
    buyer = await market.buyer()
    first = await market.client.post(
        f"/v1/buyers/{buyer.id}/payments",
        json={"amount_cents": 5000, "reference": "wire-1"},
        headers=market.admin,
    )
    assert first.status_code == 201
    assert first.json()["balance_cents"] == 5000
    again = await market.client.post(
        f"/v1/buyers/{buyer.id}/payments",
        json={"amount_cents": 5000, "reference": "wire-1"},
        headers=market.admin,
    )
    assert again.status_code == 200 and again.json() == first.json()
    other = await market.client.post(
        f"/v1/buyers/{buyer.id}/payments",
        json={"amount_cents": 7000, "reference": "wire-1"},
        headers=market.admin,
    )
    assert other.status_code == 422 and other.json()["code"] == "idempotency_mismatch"
    assert (
        await market.client.post(
            f"/v1/buyers/{buyer.id}/payments", json={"amount_cents": 1, "reference": "x"}, headers=buyer.auth
        )
    ).status_code == 403
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=buyer.auth)).json()
    assert balance["balance_cents"] == 5000
    stranger = await market.buyer(name="Stranger")
    assert (
        await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=stranger.auth)
    ).status_code == 404


async def test_enum_filter_values_are_stored_as_leads_spell_them(market: Market) -> None:
    buyer = await market.buyer()
    created = await market.client.post(
        "/v1/campaigns",
        json=body(
            buyer.id,
            vertical="mortgage",
            filters=[{"field": "property_type", "op": "in", "value": ["Single Family", "condo"]}],
        ),
        headers=market.admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["filters"][0]["value"] == ["single_family", "condo"]
