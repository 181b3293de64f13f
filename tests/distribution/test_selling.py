"""Selling leads to fake buyers on loopback: auction, waterfall, shared and exclusive sales."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import Market, auto_insurance_lead
from tests.distribution.buyers import FakeBuyer, serve

# The fake buyers answer at once, but on a loaded machine the default 500 ms auction deadline can
# still pass before a bid is read, and a test would see a timeout it is not about. Every test
# here waits up to 10 s for bids (an auction ends as soon as every bid is in); the one about the
# deadline sets its own.
PATIENT = {"ping_timeout_ms": 10_000}


@pytest.fixture(autouse=True)
async def patient_auction(market: Market) -> None:
    await market.distribution(**PATIENT)


async def funded(market: Market, name: str, cents: int = 1_000_000):  # type: ignore[no-untyped-def]
    buyer = await market.buyer(name=name)
    await market.fund(buyer, cents)
    return buyer


async def test_best_bid_wins_and_is_charged(market: Market) -> None:
    publisher = await market.publisher(payout={"model": "revshare", "percent": 70})
    async with serve(FakeBuyer(bid=12.5), FakeBuyer(bid=30.0), FakeBuyer(bid=18.0)) as fakes:
        buyers = [await funded(market, f"B{i}") for i in range(3)]
        for buyer, fake in zip(buyers, fakes, strict=True):
            await market.campaign(buyer, fake.delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "sold"
    assert body["payout_cents"] == 2100  # 70% of 30.00
    assert [len(f.posts) for f in fakes] == [0, 1, 0]
    lead = (await market.client.get(f"/v1/leads/{body['lead_id']}", headers=market.admin)).json()
    assert lead["sales"][0]["buyer_id"] == buyers[1].id
    assert lead["sales"][0]["price_cents"] == 3000
    balance = (await market.client.get(f"/v1/accounts/{buyers[1].id}/balance", headers=market.admin)).json()
    assert balance["balance_cents"] == 1_000_000 - 3000
    assert balance["reserved_cents"] == 0
    own = (await market.client.get(f"/v1/leads/{body['lead_id']}", headers=buyers[1].auth)).json()
    assert own["fields"]["email"]
    other = await market.client.get(f"/v1/leads/{body['lead_id']}", headers=buyers[0].auth)
    assert other.status_code == 404


async def test_text_and_xml_bidders_are_read_by_their_rules(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(
        FakeBuyer(bid=9.99, answer_format="xml"), FakeBuyer(bid=11.25, answer_format="text")
    ) as fakes:
        for i, fake in enumerate(fakes):
            await market.campaign(await funded(market, f"B{i}"), fake.delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    lead = (await market.client.get(f"/v1/leads/{answer.json()['lead_id']}", headers=market.admin)).json()
    assert lead["sales"][0]["price_cents"] == 1125
    events = (await market.client.get(f"/v1/leads/{lead['id']}/events", headers=market.admin)).json()["items"]
    bids = sorted(e["data"]["price_cents"] for e in events if e["kind"] == "pinged")
    assert bids == [999, 1125]


async def test_slow_bidder_is_left_out_within_the_deadline(market: Market) -> None:
    publisher = await market.publisher()
    await market.distribution(ping_timeout_ms=300)
    async with serve(FakeBuyer(bid=50.0, ping_delay=2.0), FakeBuyer(bid=10.0)) as fakes:
        for i, fake in enumerate(fakes):
            await market.campaign(await funded(market, f"B{i}"), fake.delivery())
        started = time.perf_counter()
        answer = await market.post_lead(publisher, auto_insurance_lead())
        elapsed = time.perf_counter() - started
    assert answer.json()["status"] == "sold"
    assert elapsed < 1.5
    assert len(fakes[0].posts) == 0 and len(fakes[1].posts) == 1
    events = (
        await market.client.get(f"/v1/leads/{answer.json()['lead_id']}/events", headers=market.admin)
    ).json()
    slow = [e for e in events["items"] if e["kind"] == "pinged" and e["data"]["status"] == "timeout"]
    assert len(slow) == 1


async def test_waterfall_goes_down_the_bids_when_posts_fail(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(
        FakeBuyer(bid=40.0, accept=False), FakeBuyer(bid=30.0, post_delay=3.0), FakeBuyer(bid=20.0)
    ) as fakes:
        for i, fake in enumerate(fakes):
            delivery = fake.delivery()
            delivery["post"]["timeout_ms"] = 300
            await market.campaign(await funded(market, f"B{i}"), delivery)
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold"
    assert [len(f.posts) for f in fakes] == [1, 1, 1]
    lead = (await market.client.get(f"/v1/leads/{answer.json()['lead_id']}", headers=market.admin)).json()
    assert [s["price_cents"] for s in lead["sales"]] == [2000]
    audit = (
        await market.client.get("/v1/deliveries", params={"lead_id": lead["id"]}, headers=market.admin)
    ).json()
    posts = sorted((d["price_cents"], d["status"]) for d in audit["items"] if d["kind"] == "post")
    assert posts == [(2000, "accepted"), (3000, "timeout"), (4000, "rejected")]


async def test_nobody_accepting_leaves_the_lead_unsold_and_funds_free(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=40.0, accept=False)) as fakes:
        buyer = await funded(market, "B", 5000)
        await market.campaign(buyer, fakes[0].delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "unsold"
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    assert (balance["balance_cents"], balance["reserved_cents"]) == (5000, 0)


async def test_shared_lead_sells_to_the_best_non_exclusive_campaigns(market: Market) -> None:
    publisher = await market.publisher()
    await market.distribution(max_sales=2, **PATIENT)
    async with serve(FakeBuyer(bid=10.0), FakeBuyer(bid=30.0), FakeBuyer(bid=20.0)) as fakes:
        for i, fake in enumerate(fakes):
            await market.campaign(await funded(market, f"B{i}"), fake.delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    lead = (await market.client.get(f"/v1/leads/{answer.json()['lead_id']}", headers=market.admin)).json()
    assert sorted(s["price_cents"] for s in lead["sales"]) == [2000, 3000]
    assert answer.json()["payout_cents"] == (2000 + 3000) * 70 // 100


async def test_an_exclusive_campaign_buys_alone_when_it_pays_more(market: Market) -> None:
    publisher = await market.publisher()
    await market.distribution(max_sales=3, **PATIENT)
    async with serve(FakeBuyer(bid=50.0), FakeBuyer(bid=10.0), FakeBuyer(bid=15.0)) as fakes:
        await market.campaign(await funded(market, "X"), fakes[0].delivery(), exclusive=True)
        for i, fake in enumerate(fakes[1:]):
            await market.campaign(await funded(market, f"S{i}"), fake.delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    lead = (await market.client.get(f"/v1/leads/{answer.json()['lead_id']}", headers=market.admin)).json()
    assert [s["price_cents"] for s in lead["sales"]] == [5000]
    assert [len(f.posts) for f in fakes] == [1, 0, 0]


async def test_shared_buyers_win_over_a_smaller_exclusive_bid(market: Market) -> None:
    publisher = await market.publisher()
    await market.distribution(max_sales=2, **PATIENT)
    async with serve(FakeBuyer(bid=25.0), FakeBuyer(bid=20.0), FakeBuyer(bid=15.0)) as fakes:
        await market.campaign(await funded(market, "X"), fakes[0].delivery(), exclusive=True)
        for i, fake in enumerate(fakes[1:]):
            await market.campaign(await funded(market, f"S{i}"), fake.delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    lead = (await market.client.get(f"/v1/leads/{answer.json()['lead_id']}", headers=market.admin)).json()
    assert sorted(s["price_cents"] for s in lead["sales"]) == [1500, 2000]


async def test_flaky_buyer_is_retried_in_async_mode(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=10.0, failures_before_success=2)) as fakes:
        await market.campaign(await funded(market, "B"), fakes[0].delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead(), mode="async")
        lead_id = answer.json()["lead_id"]
        for _ in range(100):
            lead = (await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)).json()
            if lead["status"] != "accepted":
                break
            await asyncio.sleep(0.05)
    assert lead["status"] == "sold"
    assert len(fakes[0].posts) == 3


async def test_flaky_buyer_is_not_retried_in_sync_mode(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=10.0, failures_before_success=1)) as fakes:
        await market.campaign(await funded(market, "B"), fakes[0].delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "unsold"
    assert len(fakes[0].posts) == 1


async def test_pings_carry_no_personal_data(market: Market) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead(address="12 Secret Lane", user_agent="Mozilla/5.0")
    async with serve(FakeBuyer(bid=10.0), FakeBuyer(bid=5.0)) as fakes:
        for i, fake in enumerate(fakes):
            await market.campaign(await funded(market, f"B{i}"), fake.delivery())
        await market.post_lead(publisher, lead)
    for fake in fakes:
        (ping,) = fake.pings
        sent = ping.fields()
        for personal in ("first_name", "last_name", "email", "phone", "address", "ip_address", "user_agent"):
            assert personal not in sent
        for value in (lead["email"], lead["last_name"], "Secret", "98.97.12.34", lead["phone"][-7:]):
            assert value not in ping.body.decode()
        assert sent["state"] == "CA" and sent["vehicle_make"] == "Toyota" and sent["grade"] in "ABCD"
    assert fakes[0].posts[0].fields()["email"] == lead["email"]


async def test_post_mapping_and_literals_shape_the_body_and_secrets_are_masked(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer()) as fakes:
        delivery = fakes[0].delivery(bid=False, mapping={"FirstName": "first_name", "Key": "=secret123"})
        await market.campaign(await funded(market, "B"), delivery)
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert fakes[0].posts[0].fields() == {"FirstName": "Ada", "Key": "secret123"}
    audit = (
        await market.client.get(
            "/v1/deliveries", params={"lead_id": answer.json()["lead_id"]}, headers=market.admin
        )
    ).json()
    assert "secret123" not in str(audit)
    assert audit["items"][0]["status"] == "accepted"


async def test_equal_bids_take_turns(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=20.0), FakeBuyer(bid=20.0)) as fakes:
        for i, fake in enumerate(fakes):
            await market.campaign(await funded(market, f"B{i}"), fake.delivery())
        for _ in range(6):
            await market.post_lead(publisher, auto_insurance_lead())
    assert [len(f.posts) for f in fakes] == [3, 3]


async def test_a_bid_under_the_vertical_floor_for_the_grade_does_not_buy(market: Market) -> None:
    publisher = await market.publisher()
    await market.distribution(floor_cents_by_grade={g: 1500 for g in "ABCD"}, **PATIENT)
    async with serve(FakeBuyer(bid=14.99), FakeBuyer(bid=15.0)) as fakes:
        for i, fake in enumerate(fakes):
            await market.campaign(await funded(market, f"B{i}"), fake.delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
        lowball = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold"
    assert lowball.json()["status"] == "sold"
    assert [len(f.posts) for f in fakes] == [0, 2]


async def test_the_delivery_audit_is_for_operators_and_filters_by_buyer(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=20.0), FakeBuyer(bid=10.0)) as fakes:
        buyers = [await funded(market, f"B{i}") for i in range(2)]
        for buyer, fake in zip(buyers, fakes, strict=True):
            await market.campaign(buyer, fake.delivery())
        await market.post_lead(publisher, auto_insurance_lead())
    mine = (
        await market.client.get("/v1/deliveries", params={"buyer_id": buyers[1].id}, headers=market.admin)
    ).json()
    assert [(d["kind"], d["status"]) for d in mine["items"]] == [("ping", "bid")]
    assert mine["items"][0]["latency_ms"] > 0
    assert "email" not in mine["items"][0]["request"]["body"]
    assert (await market.client.get("/v1/deliveries", headers=buyers[0].auth)).status_code == 403
    posts = (
        await market.client.get("/v1/deliveries", params={"status": "accepted"}, headers=market.admin)
    ).json()
    assert [d["buyer_id"] for d in posts["items"]] == [buyers[0].id]


async def test_a_sync_duplicate_is_pinged_while_it_commits_but_never_posted(market: Market) -> None:
    """Pings go out while the lead is being stored; the post waits for the commit's verdict."""
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=20.0)) as fakes:
        await market.campaign(await funded(market, "B"), fakes[0].delivery())
        lead = auto_insurance_lead()
        first = await market.post_lead(publisher, lead)
        again = await market.post_lead(publisher, {**lead, "email": "someone.else@example.com"})
    assert first.json()["status"] == "sold"
    assert again.status_code == 409, again.text
    assert again.json()["status"] == "duplicate"
    assert (len(fakes[0].pings), len(fakes[0].posts)) == (2, 1)
    duplicate_id = again.json()["lead_id"]
    events = (await market.client.get(f"/v1/leads/{duplicate_id}/events", headers=market.admin)).json()
    kinds = [e["kind"] for e in events["items"]]
    assert "duplicate" in kinds and "pinged" in kinds
    assert "posted" not in kinds and "sold" not in kinds
    lead_view = (await market.client.get(f"/v1/leads/{duplicate_id}", headers=market.admin)).json()
    assert lead_view["status"] == "duplicate"
    assert lead_view["sales"] == []


async def test_a_rejected_sync_lead_is_never_offered(market: Market) -> None:
    publisher = await market.publisher()
    async with serve(FakeBuyer(bid=20.0)) as fakes:
        await market.campaign(await funded(market, "B"), fakes[0].delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead(email="not-an-email", phone=""))
    assert answer.status_code == 422, answer.text
    assert (len(fakes[0].pings), len(fakes[0].posts)) == (0, 0)
