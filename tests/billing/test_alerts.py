"""Alerts before money runs out: each condition reaches its subscribers once, by e-mail through
a real SMTP relay (aiosmtpd) and by a signed webhook to a real receiver, both on loopback; a
second occurrence within the hour is not sent again, a new hour is; a buyer subscribes only
for itself.

The app's own alert watch is slowed to a crawl here and each test looks when it wants to (as
the watch does every few seconds), so what a look raised is known; the notices still go out
through the app's outbox runner. One test lets the watch look by itself.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select
from standardwebhooks import Webhook, WebhookVerificationError

from billing.alerts import AlertNotes
from exchange.api.app import create_app
from exchange.api.services import Services
from exchange.jobs.alerts import AlertWatch
from exchange.settings import Settings
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import (
    ADMIN_KEY,
    Account,
    Market,
    ShiftableClock,
    auto_insurance_lead,
    bearer,
    exchange_settings,
)
from tests.distribution.buyers import FakeBuyer, serve
from tests.transports import Mailbox, relay

__all__ = ["relay"]  # the SMTP relay alerts go out through

OPS_EMAIL = "ops@exchange.example"
BUYER_EMAIL = "billing@buyer.example"
PRICE = {"model": "fixed", "cents_by_grade": {g: 1000 for g in "ABCD"}}


@pytest.fixture
def settings(database_url: str, relay: tuple[str, Mailbox]) -> Settings:
    # The watch's own loop waits an hour between looks: the tests look themselves.
    return exchange_settings(database_url, smtp_relay=relay[0], upkeep_seconds=3600)


@dataclass
class Receiver:
    """A subscriber's webhook endpoint: keeps every alert whose signature verifies."""

    secrets: list[str] = field(default_factory=list)
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    refused: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            self.received.append((headers, json.loads(body)))
            return web.json_response({"ok": True})
        self.refused += 1
        return web.Response(status=401, text="bad signature")

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [payload for _, payload in self.received if payload["type"] == f"alert.{kind}"]


@asynccontextmanager
async def receiving() -> AsyncIterator[Receiver]:
    async with serve(Receiver()) as (receiver,):  # type: ignore[arg-type]
        yield receiver  # type: ignore[misc]


def look(market: Market) -> list[str]:
    """One look of the app's alert watch, on the app's own loop: the alerts it raised."""
    services = market.client.app.state.services
    assert isinstance(services, Services)

    async def run() -> list[str]:
        return await services.alerts.run_once()

    return list(market.client.blocking_portal.call(run))


async def until(check: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.05)


async def settled(market: Market) -> None:
    """Every alert notice owed has been sent (or has failed an attempt)."""
    for _ in range(300):
        pending = await market.client.get(
            "/v1/jobs", params={"job": "send_alert", "state": "pending"}, headers=market.admin
        )
        running = await market.client.get(
            "/v1/jobs", params={"job": "send_alert", "state": "running"}, headers=market.admin
        )
        if not pending.json()["items"] and not running.json()["items"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("alert notices still owed")


async def subscribe(market: Market, auth: dict[str, str], **body: Any) -> dict[str, Any]:
    answer = await market.client.post("/v1/alerts/subscriptions", json=body, headers=auth)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def operators_hear(market: Market, receiver: Receiver, *kinds: str) -> dict[str, Any]:
    """The operators' subscription: e-mail and a webhook, for these kinds of every buyer."""
    made = await subscribe(
        market, market.admin, kinds=list(kinds), email=OPS_EMAIL, webhook_url=f"{receiver.url}/ops"
    )
    receiver.secrets.append(made["webhook_secret"])
    return made


async def alerts(market: Market, auth: dict[str, str] | None = None, **params: str) -> list[dict[str, Any]]:
    answer = await market.client.get("/v1/alerts", params=params, headers=auth or market.admin)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def mails_to(mailbox: Mailbox, address: str) -> list[Any]:
    return [m for m in mailbox.messages if m["To"] == address]


async def sold(market: Market, publisher: Account) -> None:
    answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold", answer.text


async def unsold(market: Market, publisher: Account) -> None:
    answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "unsold", answer.text


async def test_a_low_balance_reaches_the_buyer_and_operators_once_an_hour(
    market: Market, relay: tuple[str, Mailbox], clock: ShiftableClock
) -> None:
    _, mailbox = relay
    publisher = await market.publisher()
    buyer = await market.buyer()
    await market.fund(buyer, 5000)
    threshold = await market.client.put(
        f"/v1/alerts/thresholds/{buyer.id}", json={"low_balance_cents": 4500}, headers=buyer.auth
    )
    assert threshold.status_code == 200, threshold.text
    async with serve(FakeBuyer()) as (fake,), receiving() as receiver:
        await market.campaign(buyer, fake.delivery(bid=False), pricing=PRICE)
        ops = await operators_hear(market, receiver, "low_balance")
        own = await subscribe(market, buyer.auth, kinds=["low_balance"], email=BUYER_EMAIL)
        assert own["buyer_id"] == buyer.id and own["audience"] == "buyer" and "webhook_secret" not in own

        await sold(market, publisher)  # 5000 → 4000: below 4500
        [raised] = look(market)
        await until(lambda: len(mailbox.messages) == 2 and len(receiver.received) == 1)
        [(headers, payload)] = receiver.received
        assert payload["type"] == "alert.low_balance"
        assert payload["data"]["id"] == raised and payload["data"]["buyer_id"] == buyer.id
        assert payload["data"]["detail"] == {"balance_cents": 4000, "low_balance_cents": 4500}
        assert headers["webhook-id"] == f"{raised}.{ops['id']}"
        [to_ops] = mails_to(mailbox, OPS_EMAIL)
        [to_buyer] = mails_to(mailbox, BUYER_EMAIL)
        assert (
            "low balance" in to_ops["Subject"]
            and to_ops["Message-ID"] == f"<{raised}.{ops['id']}@lead-exchange>"
        )
        assert "4000 cents" in to_buyer.get_content() and raised in to_buyer.get_content()

        await sold(market, publisher)  # 3000, the same hour: not sent again
        assert look(market) == []
        await settled(market)
        assert (len(mailbox.messages), len(receiver.received)) == (2, 1)

        clock.advance(hours=1)
        await sold(market, publisher)  # 2000, an hour on: sent again
        [again] = look(market)
        await until(lambda: len(mailbox.messages) == 4 and len(receiver.received) == 2)
    assert receiver.received[1][1]["data"]["detail"]["balance_cents"] == 2000
    assert [a["id"] for a in await alerts(market, kind="low_balance")] == [again, raised]
    assert [a["id"] for a in await alerts(market, buyer.auth)] == [again, raised]


async def test_a_campaign_that_fills_its_cap_is_one_alert_however_many_leads_it_turns_away(
    market: Market, relay: tuple[str, Mailbox]
) -> None:
    _, mailbox = relay
    publisher = await market.publisher()
    buyer = await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer()) as (fake,), receiving() as receiver:
        campaign = await market.campaign(
            buyer, fake.delivery(bid=False), pricing=PRICE, caps=[{"period": "day", "max_leads": 1}]
        )
        await operators_hear(market, receiver, "cap_reached")
        await sold(market, publisher)  # the day's one lead: the cap is full
        [raised] = look(market)
        await until(lambda: len(mailbox.messages) == 1 and len(receiver.received) == 1)
        await unsold(market, publisher)  # turned away by the full cap
        await unsold(market, publisher)
        assert look(market) == []
        await settled(market)
    [alert] = await alerts(market)
    assert (alert["id"], alert["kind"], alert["campaign_id"]) == (raised, "cap_reached", campaign["id"])
    assert alert["detail"] == {"caps": ["cap day max_leads 1 reached"]}
    assert (len(mailbox.messages), len(receiver.received)) == (1, 1)
    assert receiver.of_kind("cap_reached")[0]["data"]["campaign_id"] == campaign["id"]


async def test_an_endpoint_failing_three_posts_in_a_row_is_one_alert(
    market: Market, relay: tuple[str, Mailbox]
) -> None:
    _, mailbox = relay
    publisher = await market.publisher()
    buyer = await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer(failures_before_success=100)) as (down,), receiving() as receiver:
        campaign = await market.campaign(buyer, down.delivery(bid=False), pricing=PRICE)
        await operators_hear(market, receiver, "delivery_failing")
        await unsold(market, publisher)
        await unsold(market, publisher)
        assert look(market) == []  # two failures are not yet "repeatedly"
        await unsold(market, publisher)
        [raised] = look(market)
        await until(lambda: len(mailbox.messages) == 1 and len(receiver.received) == 1)
        await unsold(market, publisher)  # a fourth, the same hour
        assert look(market) == []
        await settled(market)
        assert len(down.posts) == 4
    [alert] = await alerts(market, kind="delivery_failing")
    assert (alert["id"], alert["campaign_id"]) == (raised, campaign["id"])
    assert alert["detail"]["failed_posts"] == 3
    assert (len(mailbox.messages), len(receiver.received)) == (1, 1)


async def test_leads_going_past_a_buyer_without_funds_is_one_alert_an_hour(
    market: Market, relay: tuple[str, Mailbox]
) -> None:
    _, mailbox = relay
    publisher = await market.publisher()
    broke = await market.buyer(name="Broke Insurance")  # no payment, no credit
    async with serve(FakeBuyer()) as (fake,), receiving() as receiver:
        campaign = await market.campaign(broke, fake.delivery(bid=False), pricing=PRICE)
        ops = await operators_hear(market, receiver, "unsold_no_funds", "low_balance")
        mine = await subscribe(market, broke.auth, kinds=["unsold_no_funds"], webhook_url=f"{receiver.url}/b")
        receiver.secrets.append(mine["webhook_secret"])
        await unsold(market, publisher)
        [raised] = look(market)
        await until(lambda: len(mailbox.messages) == 1 and len(receiver.received) == 2)
        await unsold(market, publisher)
        assert look(market) == []
        await settled(market)
    assert not fake.posts
    [alert] = await alerts(market, broke.auth)
    assert (alert["id"], alert["kind"], alert["buyer_id"]) == (raised, "unsold_no_funds", broke.id)
    assert alert["detail"] == {"leads": 1, "campaigns": {campaign["id"]: 1}}
    assert "Broke Insurance" in alert["message"]
    assert {h["webhook-id"] for h, _ in receiver.received} == {
        f"{raised}.{mine['id']}",
        f"{raised}.{ops['id']}",
    }
    assert (len(mailbox.messages), len(receiver.received)) == (1, 2)


async def test_a_buyer_subscribes_and_sets_thresholds_for_itself_only(market: Market) -> None:
    one, other = await market.buyer(name="One"), await market.buyer(name="Other")
    answer = await market.client.post(
        "/v1/alerts/subscriptions",
        json={"kinds": ["low_balance"], "email": BUYER_EMAIL, "buyer_id": other.id},
        headers=one.auth,
    )
    assert answer.status_code == 404, answer.text
    answer = await market.client.put(
        f"/v1/alerts/thresholds/{other.id}", json={"low_balance_cents": 100}, headers=one.auth
    )
    assert answer.status_code == 404, answer.text
    assert (await market.client.get(f"/v1/alerts/thresholds/{other.id}", headers=one.auth)).status_code == 404
    others = await subscribe(market, other.auth, kinds=["cap_reached"], email=BUYER_EMAIL)
    operators = await subscribe(market, market.admin, kinds=["cap_reached"], email=OPS_EMAIL, buyer_id=one.id)
    mine = await subscribe(market, one.auth, kinds=["cap_reached", "cap_reached"], email=BUYER_EMAIL)
    assert mine["kinds"] == ["cap_reached"] and mine["buyer_id"] == one.id
    listed = await market.client.get("/v1/alerts/subscriptions", headers=one.auth)
    assert [s["id"] for s in listed.json()["items"]] == [mine["id"]]
    for foreign in (others, operators):
        gone = await market.client.delete(f"/v1/alerts/subscriptions/{foreign['id']}", headers=one.auth)
        assert gone.status_code == 404, gone.text
    removed = await market.client.delete(f"/v1/alerts/subscriptions/{mine['id']}", headers=one.auth)
    assert removed.status_code == 200 and removed.json()["id"] == mine["id"]
    everything = await market.client.get("/v1/alerts/subscriptions", headers=market.admin)
    assert {s["id"] for s in everything.json()["items"]} == {others["id"], operators["id"]}
    publisher = await market.publisher()
    assert (await market.client.get("/v1/alerts", headers=publisher.auth)).status_code == 403
    own = await market.client.put(
        f"/v1/alerts/thresholds/{one.id}", json={"low_balance_cents": 0}, headers=one.auth
    )
    assert own.json()["low_balance_cents"] == 0
    cleared = await market.client.put(
        f"/v1/alerts/thresholds/{one.id}", json={"low_balance_cents": None}, headers=market.admin
    )
    assert cleared.status_code == 200 and cleared.json()["low_balance_cents"] is None
    read = await market.client.get(f"/v1/alerts/thresholds/{one.id}", headers=one.auth)
    assert read.json()["low_balance_cents"] is None
    hooked = await subscribe(market, one.auth, kinds=["low_balance"], webhook_url="https://hooks.example/in")
    audit = await market.client.get("/v1/audit", params={"entity_id": hooked["id"]}, headers=market.admin)
    [made] = audit.json()["items"]
    assert made["action"] == "alert_subscription.create" and made["actor_account_id"] == one.id
    assert hooked["webhook_secret"] not in audit.text


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"kinds": ["low_balance"]}, "email", "required"),
        ({"kinds": [], "email": OPS_EMAIL}, "kinds", None),
        ({"kinds": ["broke"], "email": OPS_EMAIL}, "kinds[0]", None),
        ({"kinds": ["low_balance"], "email": "not an address"}, "email", "invalid_email"),
        ({"kinds": ["low_balance"], "webhook_url": "ftp://hooks.example/in"}, "webhook_url", "invalid_url"),
        ({"kinds": ["low_balance"], "email": OPS_EMAIL, "buyer_id": "buy_nobody"}, "buyer_id", "not_found"),
        ({"kinds": ["low_balance"], "email": OPS_EMAIL, "sms": "+1555"}, "sms", None),
    ],
)
async def test_a_subscription_that_cannot_work_is_refused_naming_the_field(
    market: Market, body: dict[str, Any], field: str, code: str | None
) -> None:
    answer = await market.client.post("/v1/alerts/subscriptions", json=body, headers=market.admin)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["field"] == field
    if code is not None:
        assert error["code"] == code
    listed = await market.client.get("/v1/alerts/subscriptions", headers=market.admin)
    assert listed.json()["items"] == []


async def test_a_negative_threshold_is_refused(market: Market) -> None:
    buyer = await market.buyer()
    answer = await market.client.put(
        f"/v1/alerts/thresholds/{buyer.id}", json={"low_balance_cents": -1}, headers=market.admin
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "low_balance_cents"


async def test_two_processes_that_see_one_condition_raise_it_once(
    market: Market, database_url: str, relay: tuple[str, Mailbox]
) -> None:
    _, mailbox = relay
    buyer = await market.buyer()
    campaign = await market.campaign(
        buyer, {"adapter": "email", "to": "leads@buyer.example", "format": "text"}
    )
    await subscribe(market, market.admin, kinds=["unsold_no_funds"], email=OPS_EMAIL)
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        watches = []
        for engine in engines:
            notes = AlertNotes()
            notes.short_of_funds(campaign["id"])
            watches.append(AlertWatch(engine, market.client.app.state.services.clock, notes, poll_seconds=60))
        raised = await asyncio.gather(*(watch.run_once() for watch in watches))
        assert sorted(len(r) for r in raised) == [0, 1]
        async with engines[0].connect() as conn:
            owed = await conn.scalar(select(func.count()).where(t.outbox.c.job == "send_alert"))
        assert owed == 1
    finally:
        for engine in engines:
            await engine.dispose()
    await until(lambda: len(mailbox.messages) == 1)
    await settled(market)
    assert len(mailbox.messages) == 1


async def test_an_alert_the_relay_turns_away_is_sent_again_once(
    market: Market, relay: tuple[str, Mailbox]
) -> None:
    _, mailbox = relay
    mailbox.answers[OPS_EMAIL] = "451 4.3.0 try again later"
    publisher = await market.publisher()
    broke = await market.buyer()
    async with serve(FakeBuyer()) as (fake,):
        await market.campaign(broke, fake.delivery(bid=False), pricing=PRICE)
        await subscribe(market, market.admin, kinds=["unsold_no_funds"], email=OPS_EMAIL)
        await unsold(market, publisher)
        [raised] = look(market)
        for _ in range(300):
            jobs = await market.client.get("/v1/jobs", params={"job": "send_alert"}, headers=market.admin)
            [job] = jobs.json()["items"]
            if job["last_error"] is not None:
                break
            await asyncio.sleep(0.05)
        assert job["payload"]["alert_id"] == raised and "451" in job["last_error"]
        assert not mailbox.messages
        del mailbox.answers[OPS_EMAIL]  # the relay takes mail again
        await until(lambda: len(mailbox.messages) == 1, seconds=30)
    await settled(market)
    assert len(mailbox.messages) == 1
    jobs = await market.client.get(
        "/v1/jobs", params={"job": "send_alert", "state": "done"}, headers=market.admin
    )
    assert len(jobs.json()["items"]) == 1 and jobs.json()["items"][0]["attempts"] >= 2


async def test_the_watch_looks_by_itself(database_url: str, relay: tuple[str, Mailbox]) -> None:
    address, mailbox = relay
    app = create_app(exchange_settings(database_url, smtp_relay=address, upkeep_seconds=0.1))
    async with AsyncTestClient(app=app) as client, serve(FakeBuyer()) as (fake,):
        market = Market(client=client, admin=bearer(ADMIN_KEY))
        publisher, broke = await market.publisher(), await market.buyer()
        await market.campaign(broke, fake.delivery(bid=False), pricing=PRICE)
        await subscribe(market, market.admin, kinds=["unsold_no_funds"], email=OPS_EMAIL)
        await unsold(market, publisher)
        await until(lambda: len(mailbox.messages) == 1)
        assert "leads unsold for lack of funds" in mailbox.messages[0]["Subject"]
