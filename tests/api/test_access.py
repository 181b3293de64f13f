"""Keys and roles: 401 without a key, 403 for a role that may never, 404 for another tenant's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from litestar.testing import AsyncTestClient

from exchange.api.app import create_app
from tests.conftest import Market, auto_insurance_lead, bearer, exchange_settings
from tests.processes import free_port, start_server, stop_server


async def test_missing_and_unknown_keys_get_401(market: Market) -> None:
    assert (await market.client.get("/v1/leads")).status_code == 401
    answer = await market.client.get("/v1/leads", headers=bearer("nope"))
    assert answer.status_code == 401
    assert answer.json()["code"] == "unauthorized"


async def test_service_endpoints_need_no_key(market: Market) -> None:
    health = await market.client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert (await market.client.get("/schema/openapi.json")).status_code == 200


async def test_metrics_are_open_to_loopback_and_else_to_operators(market: Market, tmp_path: Path) -> None:
    # The test client is not on loopback: it is treated as a remote scraper.
    assert (await market.client.get("/metrics")).status_code == 401
    publisher = await market.publisher()
    assert (await market.client.get("/metrics", headers=publisher.auth)).status_code == 403
    assert (await market.client.get("/metrics", headers=market.admin)).status_code == 200
    elsewhere = f"sqlite:///{tmp_path / 'metrics.db'}"
    async with AsyncTestClient(app=create_app(exchange_settings(elsewhere, metrics_access="open"))) as client:
        assert (await client.get("/metrics")).status_code == 200
    port = free_port()
    server = await asyncio.to_thread(start_server, elsewhere, port, tmp_path / "server.log")
    try:
        async with httpx.AsyncClient() as http:  # a scraper on the same machine needs no key
            assert (await http.get(f"http://127.0.0.1:{port}/metrics")).status_code == 200
    finally:
        await asyncio.to_thread(stop_server, server)


async def test_a_buyer_may_not_post_leads_or_read_events(market: Market) -> None:
    buyer = await market.buyer()
    publisher = await market.publisher()
    lead_id = (await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"]
    posted = await market.client.post(
        "/v1/leads", params={"vertical": "auto_insurance"}, json=auto_insurance_lead(), headers=buyer.auth
    )
    assert posted.status_code == 403
    events = await market.client.get(f"/v1/leads/{lead_id}/events", headers=buyer.auth)
    assert events.status_code == 403


async def test_a_publisher_may_not_create_accounts_or_keys(market: Market) -> None:
    publisher = await market.publisher()
    assert (
        await market.client.post("/v1/buyers", json={"name": "B", "timezone": "UTC"}, headers=publisher.auth)
    ).status_code == 403
    assert (
        await market.client.post("/v1/keys", json={"role": "operator", "name": "x"}, headers=publisher.auth)
    ).status_code == 403


async def test_a_publisher_sees_only_its_own_leads_and_no_buyer_or_price(market: Market) -> None:
    mine, theirs = await market.publisher(), await market.publisher(name="Rival")
    my_lead = (await market.post_lead(mine, auto_insurance_lead())).json()["lead_id"]
    their_lead = (await market.post_lead(theirs, auto_insurance_lead())).json()["lead_id"]
    assert (await market.client.get(f"/v1/leads/{their_lead}", headers=mine.auth)).status_code == 404
    own = await market.client.get(f"/v1/leads/{my_lead}", headers=mine.auth)
    assert own.status_code == 200
    assert "sales" not in own.json()
    assert "payout_cents" in own.json()
    listed = await market.client.get("/v1/leads", headers=mine.auth)
    assert [item["id"] for item in listed.json()["items"]] == [my_lead]
    assert (await market.client.get(f"/v1/publishers/{theirs.id}", headers=mine.auth)).status_code == 404
    assert (await market.client.get(f"/v1/publishers/{mine.id}", headers=mine.auth)).status_code == 200


async def test_a_buyer_sees_no_lead_it_did_not_buy(market: Market) -> None:
    buyer = await market.buyer()
    publisher = await market.publisher()
    lead_id = (await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"]
    assert (await market.client.get(f"/v1/leads/{lead_id}", headers=buyer.auth)).status_code == 404
    assert (await market.client.get("/v1/leads", headers=buyer.auth)).json()["items"] == []
    other = await market.buyer(name="Other")
    assert (await market.client.get(f"/v1/buyers/{other.id}", headers=buyer.auth)).status_code == 404


async def test_finance_key_reads_leads_but_not_events(market: Market) -> None:
    created = await market.client.post(
        "/v1/keys", json={"role": "finance", "name": "Fin"}, headers=market.admin
    )
    assert created.status_code == 201
    finance = bearer(created.json()["api_key"])
    publisher = await market.publisher()
    lead_id = (await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"]
    assert (await market.client.get(f"/v1/leads/{lead_id}", headers=finance)).status_code == 200
    assert (await market.client.get(f"/v1/leads/{lead_id}/events", headers=finance)).status_code == 403
    # Campaigns, with their delivery settings, are the operators' and their own buyer's.
    buyer = await market.buyer()
    campaign = await market.campaign(buyer, {"adapter": "webhook", "url": "https://buyer.example/hook"})
    assert (await market.client.get("/v1/campaigns", headers=finance)).status_code == 403
    assert (await market.client.get(f"/v1/campaigns/{campaign['id']}", headers=finance)).status_code == 403


async def test_a_revoked_key_stops_working_at_once(market: Market) -> None:
    publisher = await market.publisher()
    created = await market.client.post(
        "/v1/keys",
        json={"role": "publisher", "name": "rotation", "publisher_id": publisher.id},
        headers=market.admin,
    )
    key = created.json()["api_key"]
    assert (await market.client.get("/v1/leads", headers=bearer(key))).status_code == 200
    revoked = await market.client.delete(f"/v1/keys/{created.json()['id']}", headers=market.admin)
    assert revoked.status_code == 200
    assert (await market.client.get("/v1/leads", headers=bearer(key))).status_code == 401
    assert (await market.client.get("/v1/leads", headers=publisher.auth)).status_code == 200


async def test_a_key_for_a_missing_account_is_refused(market: Market) -> None:
    answer = await market.client.post(
        "/v1/keys", json={"role": "buyer", "name": "x", "buyer_id": "buy_missing"}, headers=market.admin
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "buyer_id"


async def test_keys_are_stored_only_as_hashes(market: Market, database_url: str) -> None:
    from sqlalchemy import select

    from exchange.storage import tables as t
    from exchange.storage.db import create_engine

    publisher = await market.publisher()
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        hashes = list((await conn.execute(select(t.api_keys.c.key_hash))).scalars())
    await engine.dispose()
    assert publisher.key not in hashes
    assert all(len(h) == 64 for h in hashes)
