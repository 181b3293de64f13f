"""Two tenants of every role in one marketplace, built through the API: the world the roles
table (test_roles_table.py) tries every endpoint against.

Tenant 1 (publisher_1, buyer_1) owns a real object for every path parameter: a sold lead, a
return, a disposition, a pull, a batch, a ping, campaigns, a delivery, a hold, a batched file.
Tenant 2 (publisher_2, buyer_2) has a sale of its own. Tenant 1's data is written so that it
can be searched for in any answer: its names appear nowhere else.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.api.test_batches import csv_bytes, finished, row
from tests.conftest import Account, Market, auto_insurance_lead, bearer
from tests.distribution.buyers import FakeBuyer
from tests.processes import free_port

FIXED = {"model": "fixed", "cents_by_grade": {g: 2000 for g in "ABCD"}}
# Never sent to: the campaign stays paused.
PAUSED_WEBHOOK = {"adapter": "webhook", "url": "https://127.0.0.1:9/hook"}
ALERTS = {"kinds": ["low_balance"], "webhook_url": "https://127.0.0.1:9/alerts"}
FIRST_NAME, LAST_NAME = "Oonagh", "Firsttenant"


@dataclass
class World:
    ids: dict[str, str]  # path placeholders (and a few more values) → tenant 1's objects
    headers: dict[str, dict[str, str]]  # caller → its Authorization header
    secrets: dict[str, str]  # tenant 1's data, by a label naming it


def lead_1(**overrides: Any) -> dict[str, Any]:
    """A lead of tenant 1."""
    return auto_insurance_lead(first_name=FIRST_NAME, last_name=LAST_NAME, **overrides)


def csv_of_lead_1(sub_id: str) -> bytes:
    return csv_bytes([row(first_name=FIRST_NAME, last_name=LAST_NAME, sub_id=sub_id)])


def ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, f"{answer.request.method} {answer.request.url}: {answer.text}"
    return answer.json()


async def soon(client: Any, url: str, headers: dict[str, str]) -> list[Any]:
    """The items of a list that work in the background fills, once it has some."""
    for _ in range(200):
        items: list[Any] = (ok(await client.get(url, headers=headers)))["items"]
        if items:
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"{url} stayed empty")


async def build_world(market: Market, fakes: list[FakeBuyer], ftp_port: int) -> World:
    client, admin = market.client, market.admin
    await market.distribution(floor_cents_by_grade={g: 1000 for g in "ABCD"})  # unsold leads are listed
    publisher_1 = await market.publisher(name="Northwind Leads")
    publisher_2 = await market.publisher(name="Southwind Media")
    buyer_1 = await market.buyer(name="Bluefin Insurance")
    buyer_2 = await market.buyer(name="Redfin Assurance")
    for buyer in (buyer_1, buyer_2):
        await market.fund(buyer, 100_000)
    # Below this from its first charge on: buyer_1 gets a low-balance alert.
    ok(
        await client.put(
            f"/v1/alerts/thresholds/{buyer_1.id}", json={"low_balance_cents": 500_000}, headers=buyer_1.auth
        )
    )

    def only(sub_id: str) -> list[dict[str, Any]]:
        return [{"field": "sub_id", "op": "eq", "value": sub_id}]

    north = await market.campaign(buyer_1, fakes[0].delivery(bid=False), pricing=FIXED, filters=only("north"))
    await market.campaign(buyer_2, fakes[1].delivery(bid=False), pricing=FIXED, filters=only("south"))
    files = await market.campaign(
        buyer_1,
        {
            "adapter": "ftp",
            "url": f"ftp://buyer:s3cret@127.0.0.1:{ftp_port}/in",
            "format": "csv",
            "batch": {"max_leads": 1},
        },
        pricing=FIXED,
        filters=only("north-files"),
    )
    webhook = await market.campaign(buyer_1, PAUSED_WEBHOOK, pricing=FIXED, active=False)

    async def post(publisher: Account, lead: dict[str, Any], status: str) -> str:
        answer = ok(await market.post_lead(publisher, lead), 201)
        assert answer["status"] == status, answer
        return str(answer["lead_id"])

    lead_id = await post(publisher_1, lead_1(sub_id="north"), "sold")
    await post(publisher_2, auto_insurance_lead(first_name="Tobias", sub_id="south"), "sold")
    await post(publisher_1, lead_1(sub_id="north-files"), "sold")
    claimable = await post(publisher_1, lead_1(sub_id="north-open"), "unsold")
    erasable = await post(publisher_1, lead_1(sub_id="north-open"), "unsold")
    returned = ok(
        await client.post(f"/v1/leads/{lead_id}/returns", json={"reason": "bad_phone"}, headers=buyer_1.auth),
        201,
    )
    disposed = ok(
        await client.post(
            f"/v1/leads/{lead_id}/dispositions", json={"status": "contacted"}, headers=buyer_1.auth
        ),
        201,
    )
    dead_url = f"http://127.0.0.1:{free_port()}/feed.xml"  # a feed nobody serves
    pull = ok(
        await client.post(
            f"/v1/publishers/{publisher_1.id}/pulls",
            json={"kind": "feed", "url": dead_url, "vertical": "auto_insurance"},
            headers=admin,
        ),
        201,
    )
    batch = ok(
        await client.post(
            "/v1/leads/batch",
            params={"vertical": "auto_insurance"},
            content=csv_of_lead_1("north-batch"),
            headers={**publisher_1.auth, "Content-Type": "text/csv"},
        ),
        202,
    )
    await finished(market, batch["batch_id"], publisher_1.auth)
    ping = ok(
        await client.post(
            "/v1/pings",
            params={"vertical": "auto_insurance"},
            json={"state": "CA", "zip": "94105"},
            headers=publisher_1.auth,
        )
    )
    finance = ok(
        await client.post("/v1/keys", json={"role": "finance", "name": "Finance staff"}, headers=admin), 201
    )
    spare = ok(
        await client.post(
            "/v1/keys",
            json={"role": "publisher", "name": "rotation", "publisher_id": publisher_1.id},
            headers=admin,
        ),
        201,
    )
    delivery = (await soon(client, f"/v1/deliveries?buyer_id={buyer_1.id}", admin))[0]
    hold = (await soon(client, f"/v1/holds?buyer_id={buyer_1.id}", admin))[0]
    job = (await soon(client, "/v1/jobs?limit=1", admin))[0]
    subscriptions = [
        ok(
            await client.post(
                "/v1/alerts/subscriptions", json={**ALERTS, "buyer_id": buyer_1.id}, headers=auth
            ),
            201,
        )
        for auth in (buyer_1.auth, admin)
    ]
    file_batches = await soon(client, "/v1/file-batches", admin)  # formed by the upkeep beat
    alerts = await soon(client, f"/v1/alerts?buyer_id={buyer_1.id}", admin)  # raised in the background
    today = datetime.now(UTC).date()
    ids = {
        "publisher_id": publisher_1.id,
        "buyer_id": buyer_1.id,
        "lead_id": lead_id,
        "claimable_lead_id": claimable,
        "erasable_lead_id": erasable,
        "campaign_id": webhook["id"],
        "return_id": returned["id"],
        "pull_id": pull["id"],
        "batch_id": batch["batch_id"],
        "ping_id": ping["ping_id"],
        "spare_key_id": spare["id"],
        "delivery_id": delivery["id"],
        "hold_id": hold["id"],
        "job_id": str(job["id"]),
        "file_batch_id": file_batches[0]["id"],
        "subscription_id": subscriptions[0]["id"],
        "operator_subscription_id": subscriptions[1]["id"],
        "today": today.isoformat(),
        "last_month": (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m"),
        "dead_url": dead_url,
        "vertical": "auto_insurance",
        "other_vertical": "solar",
    }
    secrets = {
        "publisher_1's id": publisher_1.id,
        "publisher_1's name": "Northwind Leads",
        "publisher_1's key": publisher_1.key,
        "publisher_1's inbox": publisher_1.body["inbox"],
        "publisher_1's spare key": spare["api_key"],
        "publisher_1's pull": pull["id"],
        "publisher_1's batch": batch["batch_id"],
        "publisher_1's ping": ping["ping_id"],
        "buyer_1's id": buyer_1.id,
        "buyer_1's name": "Bluefin Insurance",
        "buyer_1's key": buyer_1.key,
        "buyer_1's return": returned["id"],
        "buyer_1's disposition": disposed["id"],
        "buyer_1's delivery": delivery["id"],
        "buyer_1's hold": hold["id"],
        "buyer_1's file batch": ids["file_batch_id"],
        "buyer_1's alert": alerts[0]["id"],
        "buyer_1's subscription": subscriptions[0]["id"],
        "buyer_1's subscription by an operator": subscriptions[1]["id"],
        "tenant 1's first name": FIRST_NAME,
        "tenant 1's last name": LAST_NAME,
    }
    for campaign in (north, files, webhook):
        secrets[f"buyer_1's campaign {campaign['id']}"] = campaign["id"]
    leads = ok(
        await client.get("/v1/leads", params={"publisher_id": publisher_1.id, "limit": 500}, headers=admin)
    )
    for lead in leads["items"]:
        label = f"publisher_1's {lead['status']} lead {lead['id']}"
        secrets[label] = lead["id"]
        for name in ("email", "phone"):
            secrets[f"{label}: {name}"] = str(lead["fields"][name])
    headers = {
        "operator": admin,
        "finance": bearer(finance["api_key"]),
        "publisher_1": publisher_1.auth,
        "publisher_2": publisher_2.auth,
        "buyer_1": buyer_1.auth,
        "buyer_2": buyer_2.auth,
        "anonymous": {},
    }
    return World(ids=ids, headers=headers, secrets=secrets)
