"""What consoles stand on: account and key lists, who a key is, archived campaigns and their usage."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from buyers.caps import period_key
from exchange.api.app import create_app
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer, exchange_settings
from tests.distribution.buyers import FakeBuyer, serve


async def _pages(market: Market, path: str, headers: dict[str, str], **query: Any) -> list[list[str]]:
    """The ids on each page of a list, following next_cursor to the end."""
    pages, cursor = [], None
    while True:
        params = {**query, **({"cursor": cursor} if cursor else {})}
        answer = await market.client.get(path, params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def _finance(market: Market) -> dict[str, str]:
    answer = await market.client.post(
        "/v1/keys", json={"role": "finance", "name": "Finance team"}, headers=market.admin
    )
    return bearer(answer.json()["api_key"])


async def test_publishers_and_buyers_are_listed_newest_first_in_pages_to_staff_only(market: Market) -> None:
    publishers = [await market.publisher(name=f"Source {n}") for n in range(3)]
    buyers = [await market.buyer(name=f"Buyer {n}") for n in range(3)]
    finance = await _finance(market)

    for path, made in (("/v1/publishers", publishers), ("/v1/buyers", buyers)):
        newest_first = [account.id for account in reversed(made)]
        for staff in (market.admin, finance):
            pages = await _pages(market, path, staff, limit=2)
            assert pages == [newest_first[:2], newest_first[2:]]
        for outsider in (publishers[0], buyers[0]):
            answer = await market.client.get(path, headers=outsider.auth)
            assert answer.status_code == 403, answer.text
    listed = (await market.client.get("/v1/publishers", headers=finance)).json()["items"][0]
    assert listed["name"] == "Source 2" and "api_key" not in listed


async def test_keys_are_listed_with_ids_roles_and_accounts_never_their_secrets(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await _finance(market)

    answer = await market.client.get("/v1/keys", headers=market.admin)
    assert answer.status_code == 200
    keys = answer.json()["items"]
    for secret in (publisher.key, buyer.key, ADMIN_KEY):
        assert secret not in answer.text
    assert all(
        set(key) == {"id", "role", "name", "publisher_id", "buyer_id", "created_at", "revoked_at"}
        for key in keys
    )
    first = next(key for key in keys if key["publisher_id"] == publisher.id)
    assert first == {
        "id": publisher.body["key_id"],
        "role": "publisher",
        "name": "Acme Leads (first key)",
        "publisher_id": publisher.id,
        "buyer_id": None,
        "created_at": first["created_at"],
        "revoked_at": None,
    }

    by_role = await market.client.get("/v1/keys", params={"role": "finance"}, headers=market.admin)
    assert [key["name"] for key in by_role.json()["items"]] == ["Finance team"]
    by_account = await market.client.get("/v1/keys", params={"account_id": buyer.id}, headers=market.admin)
    assert [key["id"] for key in by_account.json()["items"]] == [buyer.body["key_id"]]
    pages = await _pages(market, "/v1/keys", market.admin, limit=1)
    assert [ids[0] for ids in pages] == [key["id"] for key in keys] and len(pages) == len(keys)
    assert (await market.client.get("/v1/keys", headers=publisher.auth)).status_code == 403


async def test_an_accounts_first_key_has_an_id_that_revokes_it(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()

    for account in (publisher, buyer):
        key_id = account.body["key_id"]
        assert key_id.startswith("key_")
        assert (await market.client.get("/v1/me", headers=account.auth)).json()["key_id"] == key_id
        revoked = await market.client.delete(f"/v1/keys/{key_id}", headers=market.admin)
        assert revoked.status_code == 200, revoked.text
        assert (await market.client.get("/v1/me", headers=account.auth)).status_code == 401
        listed = (
            await market.client.get("/v1/keys", params={"account_id": account.id}, headers=market.admin)
        ).json()
        assert listed["items"][0]["revoked_at"] is not None


async def test_revoking_by_the_secret_is_not_found_and_the_secret_is_not_echoed(market: Market) -> None:
    publisher = await market.publisher()

    answer = await market.client.delete(f"/v1/keys/{publisher.key}", headers=market.admin)

    assert answer.status_code == 404
    assert publisher.key not in answer.text
    assert answer.json()["message"] == "no such key id (this looks like a key itself, not its id)"
    # The key still works: nothing was revoked.
    assert (await market.client.get("/v1/me", headers=publisher.auth)).status_code == 200
    unknown = await market.client.delete("/v1/keys/key_nothing", headers=market.admin)
    assert unknown.status_code == 404 and "key_nothing" in unknown.json()["message"]


async def test_me_names_the_key_and_its_account_for_every_role(market: Market) -> None:
    publisher = await market.publisher(name="Quote Leads")
    buyer = await market.buyer(name="Acme Insurance")
    finance = await _finance(market)

    seen = {}
    for role, headers in (
        ("operator", market.admin),
        ("finance", finance),
        ("publisher", publisher.auth),
        ("buyer", buyer.auth),
    ):
        answer = await market.client.get("/v1/me", headers=headers)
        assert answer.status_code == 200, answer.text
        seen[role] = answer.json()
        assert seen[role]["role"] == role
    assert seen["publisher"] == {
        "key_id": publisher.body["key_id"],
        "role": "publisher",
        "name": "Quote Leads (first key)",
        "publisher_id": publisher.id,
        "account_name": "Quote Leads",
    }
    assert seen["buyer"] == {
        "key_id": buyer.body["key_id"],
        "role": "buyer",
        "name": "Acme Insurance (first key)",
        "buyer_id": buyer.id,
        "account_name": "Acme Insurance",
    }
    assert seen["finance"]["name"] == "Finance team" and "account_name" not in seen["finance"]
    assert seen["operator"]["key_id"].startswith("key_")
    assert (await market.client.get("/v1/me")).status_code == 401


async def test_an_archived_campaign_stops_selling_at_once_and_keeps_its_history(market: Market) -> None:
    async with serve(FakeBuyer()) as (fake,):
        publisher, buyer, other = await market.publisher(), await market.buyer(), await market.buyer()
        await market.fund(buyer, 100_000)
        campaign = await market.campaign(
            buyer, fake.delivery(bid=False), caps=[{"period": "day", "max_leads": 10}]
        )
        sold = (await market.post_lead(publisher, auto_insurance_lead())).json()
        assert sold["status"] == "sold"

        assert (
            await market.client.delete(f"/v1/campaigns/{campaign['id']}", headers=publisher.auth)
        ).status_code == 403
        assert (
            await market.client.delete(f"/v1/campaigns/{campaign['id']}", headers=other.auth)
        ).status_code == 404
        archived = await market.client.delete(f"/v1/campaigns/{campaign['id']}", headers=buyer.auth)
        assert archived.status_code == 200, archived.text
        assert archived.json()["archived_at"] is not None and archived.json()["active"] is False

        assert (await market.post_lead(publisher, auto_insurance_lead())).json()["status"] == "unsold"
        # Its sale, cap counter and ledger stay.
        lead = (await market.client.get(f"/v1/leads/{sold['lead_id']}", headers=market.admin)).json()
        assert [sale["campaign_id"] for sale in lead["sales"]] == [campaign["id"]]
        assert archived.json()["usage"]["caps"][0]["used_leads"] == 1
        entries = (await market.client.get("/v1/ledger/entries", headers=market.admin)).json()["items"]
        assert any(e["lead_id"] == sold["lead_id"] and e["account_id"] == buyer.id for e in entries)
        balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
        assert balance["balance_cents"] == 100_000 - 2000

        listed = await market.client.get("/v1/campaigns", headers=market.admin)
        assert campaign["id"] not in [c["id"] for c in listed.json()["items"]]
        only_archived = await market.client.get(
            "/v1/campaigns", params={"archived": "true"}, headers=market.admin
        )
        assert [c["id"] for c in only_archived.json()["items"]] == [campaign["id"]]

        back = await market.client.patch(
            f"/v1/campaigns/{campaign['id']}", json={"active": True}, headers=market.admin
        )
        assert back.status_code == 409 and back.json()["code"] == "archived"
        again = await market.client.delete(f"/v1/campaigns/{campaign['id']}", headers=market.admin)
        assert again.status_code == 200 and again.json()["archived_at"] == archived.json()["archived_at"]
        still = (await market.client.get(f"/v1/campaigns/{campaign['id']}", headers=buyer.auth)).json()
        assert still["active"] is False and still["archived_at"] == archived.json()["archived_at"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_an_archive_reaches_another_process_at_once(database_url: str, redis_url: str) -> None:
    """Archived through one server, the campaign sells no more on the other, well inside the
    other's catalogue lifetime (2 s)."""
    settings = exchange_settings(database_url, redis_url=redis_url)
    async with (
        serve(FakeBuyer()) as (fake,),
        AsyncTestClient(app=create_app(settings)) as one,
        AsyncTestClient(app=create_app(settings)) as other,
    ):
        here, there = (
            Market(client=one, admin=bearer(ADMIN_KEY)),
            Market(client=other, admin=bearer(ADMIN_KEY)),
        )
        publisher, buyer = await here.publisher(), await here.buyer()
        await here.fund(buyer, 100_000)
        campaign = await here.campaign(buyer, fake.delivery(bid=False))
        # The other process now holds the campaign in its catalogue.
        assert (await there.post_lead(publisher, auto_insurance_lead())).json()["status"] == "sold"

        archived = await one.delete(f"/v1/campaigns/{campaign['id']}", headers=here.admin)
        assert archived.status_code == 200
        await asyncio.sleep(0.2)
        assert (await there.post_lead(publisher, auto_insurance_lead())).json()["status"] == "unsold"


async def test_usage_counts_two_sales_against_a_day_cap(market: Market) -> None:
    async with serve(FakeBuyer()) as (fake,):
        publisher, buyer = await market.publisher(), await market.buyer(timezone="America/New_York")
        await market.fund(buyer, 100_000)
        caps = [
            {"period": "day", "max_leads": 5, "max_spend_cents": 9000},
            {"period": "month", "max_leads": 100},
        ]
        campaign = await market.campaign(buyer, fake.delivery(bid=False), caps=caps)
        fresh = (await market.client.get(f"/v1/campaigns/{campaign['id']}", headers=buyer.auth)).json()[
            "usage"
        ]
        assert (fresh["leads_today"], fresh["spend_today_cents"]) == (0, 0)
        assert [cap["used_leads"] for cap in fresh["caps"]] == [0, 0]

        for _ in range(2):
            assert (await market.post_lead(publisher, auto_insurance_lead())).json()["status"] == "sold"

        usage = (await market.client.get(f"/v1/campaigns/{campaign['id']}", headers=buyer.auth)).json()[
            "usage"
        ]
        now = datetime.now(UTC)
        assert usage["timezone"] == "America/New_York"
        assert usage["leads_today"] == 2 and usage["spend_today_cents"] == 4000
        day, month = usage["caps"]
        assert day["period_key"] == period_key("day", now, "America/New_York")
        assert (day["used_leads"], day["used_spend_cents"], day["max_leads"], day["max_spend_cents"]) == (
            2,
            4000,
            5,
            9000,
        )
        assert (month["period"], month["used_leads"], month["max_leads"]) == ("month", 2, 100)
        assert "max_spend_cents" not in month
        assert datetime.fromisoformat(day["resets_at"]) > now
        listed = (await market.client.get("/v1/campaigns", headers=market.admin)).json()["items"]
        assert listed[0]["usage"] == usage


async def test_a_lead_read_alone_says_what_would_raise_its_grade(market: Market) -> None:
    publisher = await market.publisher()
    posted = (await market.post_lead(publisher, auto_insurance_lead())).json()

    lead = (await market.client.get(f"/v1/leads/{posted['lead_id']}", headers=publisher.auth)).json()

    assert "phone:line_or_mobile" in lead["grade_reasons"]
    assert [advice.split(": ", 1)[0] for advice in lead["grade_advice"]] == lead["grade_reasons"]
    completeness = next(a for a in lead["grade_advice"] if a.startswith("completeness:"))
    assert "missing fields: gender, marital_status" in completeness and "address" not in completeness
    listed = (await market.client.get("/v1/leads", headers=publisher.auth)).json()["items"][0]
    assert "grade_advice" not in listed
