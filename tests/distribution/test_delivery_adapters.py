"""Every post through the adapter registry: signed webhooks, re-sends, and the save-time checks
each adapter makes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from litestar.testing import AsyncTestClient
from lxml import etree
from standardwebhooks import Webhook, WebhookVerificationError

from exchange.api.app import create_app
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer, exchange_settings
from tests.distribution.buyers import FakeBuyer, serve
from tests.transports import Mailbox, ftp, relay


@dataclass
class WebhookReceiver:
    """A buyer's endpoint that takes a webhook only if its signature verifies."""

    secrets: list[str] = field(default_factory=list)
    verified: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    refused: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = dict(request.headers)
        for secret in self.secrets:
            try:
                payload = Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
            self.verified.append((headers, payload))
            return web.json_response({"ok": True})
        self.refused += 1
        return web.Response(status=401, text="bad signature")


@asynccontextmanager
async def receiving(receiver: WebhookReceiver) -> AsyncIterator[WebhookReceiver]:
    """The receiver as a real server in a thread of its own (as the fake buyers run)."""
    async with serve(receiver) as _:  # type: ignore[arg-type]
        receiver.url += "/hook"
        yield receiver


__all__ = ["ftp", "relay"]  # fixtures shared with the adapters' own tests


async def funded(market: Market, name: str) -> Any:
    buyer = await market.buyer(name=name)
    await market.fund(buyer, 1_000_000)
    return buyer


async def test_a_webhook_is_signed_with_the_secret_shown_once(market: Market) -> None:
    publisher = await market.publisher()
    buyer = await funded(market, "Hooked")
    async with receiving(WebhookReceiver()) as receiver:
        campaign = await market.campaign(buyer, {"adapter": "webhook", "url": receiver.url})
        secret = campaign["webhook_secret"]
        assert secret.startswith("whsec_")
        shown = await market.client.get(f"/v1/campaigns/{campaign['id']}", headers=market.admin)
        assert "webhook_secret" not in shown.json() and secret not in shown.text
        receiver.secrets = [secret]
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold", answer.text
    [(headers, payload)] = receiver.verified
    assert payload["lead_id"] == answer.json()["lead_id"]
    assert payload["email"]  # a post carries the whole lead
    holds = await market.client.get("/v1/holds", params={"lead_id": payload["lead_id"]}, headers=market.admin)
    assert headers["webhook-id"] == holds.json()["items"][0]["delivery_id"]
    audit = await market.client.get(
        "/v1/deliveries", params={"lead_id": payload["lead_id"]}, headers=market.admin
    )
    assert secret not in audit.text


async def test_a_rotated_secret_signs_beside_the_new_one_for_a_while(market: Market) -> None:
    publisher = await market.publisher()
    buyer = await funded(market, "Rotating")
    async with receiving(WebhookReceiver()) as receiver:
        campaign = await market.campaign(buyer, {"adapter": "webhook", "url": receiver.url})
        rotated = await market.client.post(
            f"/v1/campaigns/{campaign['id']}/webhook-secret", headers=buyer.auth
        )
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["webhook_secret"]
        assert new != campaign["webhook_secret"] and rotated.json()["previous_valid_until"]
        receiver.secrets = [campaign["webhook_secret"]]  # a buyer not switched over yet
        first = await market.post_lead(publisher, auto_insurance_lead())
        receiver.secrets = [new]
        second = await market.post_lead(publisher, auto_insurance_lead())
    assert [first.json()["status"], second.json()["status"]] == ["sold", "sold"]
    assert all(len(h["webhook-signature"].split(" ")) == 2 for h, _ in receiver.verified)


async def test_a_webhook_whose_signature_fails_is_refused_not_sold(market: Market) -> None:
    publisher = await market.publisher()
    buyer = await funded(market, "Strict")
    async with receiving(WebhookReceiver(secrets=["whsec_" + "A" * 44])) as receiver:
        await market.campaign(buyer, {"adapter": "webhook", "url": receiver.url})
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "unsold"
    assert receiver.refused == 1


async def test_adapters_check_their_settings_when_a_campaign_is_saved(market: Market) -> None:
    buyer = await market.buyer()

    async def refused(delivery: dict[str, Any], pricing: dict[str, Any] | None = None) -> tuple[str, str]:
        body = {
            "buyer_id": buyer.id,
            "vertical": "auto_insurance",
            "pricing": pricing or {"model": "fixed", "cents_by_grade": {"A": 100}},
            "delivery": delivery,
        }
        answer = await market.client.post("/v1/campaigns", json=body, headers=market.admin)
        assert answer.status_code == 422, answer.text
        [error] = answer.json()["errors"]
        return error["field"], error["code"]

    assert await refused({"adapter": "fax"}) == ("delivery.adapter", "unknown_adapter")
    assert await refused({"adapter": "webhook"}) == ("delivery.url", "required")
    assert await refused({"adapter": "webhook", "url": "ftp://x.example/"}) == ("delivery.url", "invalid_url")
    assert await refused({"adapter": "webhook", "url": "https://x.example/", "secrets": ["whsec_x"]}) == (
        "delivery.secrets",
        "read_only",
    )
    bid = {"model": "bid", "floor_cents": 0}
    hook = {"adapter": "webhook", "url": "https://x.example/", "ping": {"url": "https://x.example/"}}
    assert await refused(hook, bid) == ("delivery.adapter", "cannot_ping")


async def test_a_failed_post_is_sent_again_and_charged_once(market: Market) -> None:
    publisher = await market.publisher()
    buyer = await funded(market, "Fixed it")
    async with serve(FakeBuyer(accept=False)) as (fake,):
        await market.campaign(buyer, fake.delivery(bid=False))
        answer = await market.post_lead(publisher, auto_insurance_lead())
        lead_id = answer.json()["lead_id"]
        assert answer.json()["status"] == "unsold"
        audit = await market.client.get("/v1/deliveries", params={"lead_id": lead_id}, headers=market.admin)
        [post] = [d for d in audit.json()["items"] if d["kind"] == "post"]
        assert post["status"] == "rejected"

        assert (
            await market.client.post(f"/v1/deliveries/{post['id']}/resend", headers=buyer.auth)
        ).status_code == 403
        fake.accept = True
        resent = await market.client.post(f"/v1/deliveries/{post['id']}/resend", headers=market.admin)
        assert resent.status_code == 202, resent.text
        hold_id = resent.json()["hold_id"]
        assert resent.json()["idempotency_key"] == post["request"]["idempotency_key"]
        hold = await _settled(market, hold_id)
        again = await market.client.post(f"/v1/deliveries/{post['id']}/resend", headers=market.admin)
    assert hold["state"] == "sold"
    assert [p.idempotency_key for p in fake.posts] == [post["request"]["idempotency_key"]] * 2
    lead = (await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)).json()
    assert lead["status"] == "sold" and len(lead["sales"]) == 1
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    assert balance["balance_cents"] == 1_000_000 - 2000 and balance["reserved_cents"] == 0
    assert again.status_code == 409 and again.json()["code"] == "already_sold"


async def test_only_a_failed_post_is_sent_again(market: Market) -> None:
    publisher = await market.publisher()
    buyer = await funded(market, "Bidder")
    async with serve(FakeBuyer(bid=12.0)) as (fake,):
        await market.campaign(buyer, fake.delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    lead_id = answer.json()["lead_id"]
    audit = (
        await market.client.get("/v1/deliveries", params={"lead_id": lead_id}, headers=market.admin)
    ).json()
    for delivery in audit["items"]:  # the ping, and the post that was accepted
        again = await market.client.post(f"/v1/deliveries/{delivery['id']}/resend", headers=market.admin)
        assert again.status_code == 409 and again.json()["code"] == "not_resendable"
    missing = await market.client.post("/v1/deliveries/dlv_nope/resend", headers=market.admin)
    assert missing.status_code == 404


async def _settled(market: Market, hold_id: str) -> dict[str, Any]:
    for _ in range(100):
        hold = (await market.client.get(f"/v1/holds/{hold_id}", headers=market.admin)).json()
        if hold["state"] in ("sold", "released", "uncertain"):
            return dict(hold)
        await asyncio.sleep(0.05)
    raise AssertionError(f"hold {hold_id} is still {hold['state']}")


@pytest.fixture
async def mail_market(database_url: str, relay: tuple[str, Mailbox]) -> AsyncIterator[Market]:
    """A marketplace whose exchange sends e-mail through the loopback relay."""
    settings = exchange_settings(database_url, smtp_relay=relay[0])
    async with AsyncTestClient(app=create_app(settings)) as client:
        yield Market(client=client, admin=bearer(ADMIN_KEY))


async def test_an_e_mail_campaign_buys_a_lead_delivered_as_adf(
    mail_market: Market, relay: tuple[str, Mailbox]
) -> None:
    market, (_, mailbox) = mail_market, relay
    publisher = await market.publisher()
    buyer = await funded(market, "Hill Motors")
    await market.campaign(buyer, {"adapter": "email", "to": "crm@hill.example", "format": "adf"})
    answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold", answer.text
    [message] = mailbox.messages
    document = etree.fromstring(message.get_content().encode())
    assert document.findtext("prospect/id") == answer.json()["lead_id"]
    assert document.findtext("prospect/customer/contact/name") == "Ada"
    audit = await market.client.get(
        "/v1/deliveries", params={"lead_id": answer.json()["lead_id"]}, headers=market.admin
    )
    [post] = audit.json()["items"]
    assert (post["status"], post["http_status"], post["request"]["adapter"]) == ("accepted", 250, "email")


async def test_a_relay_that_refuses_leaves_the_lead_unsold(
    mail_market: Market, relay: tuple[str, Mailbox]
) -> None:
    market, (_, mailbox) = mail_market, relay
    mailbox.answers = {"gone@hill.example": "550 5.1.1 no such user"}
    publisher = await market.publisher()
    buyer = await funded(market, "Gone Motors")
    await market.campaign(buyer, {"adapter": "email", "to": "gone@hill.example", "format": "text"})
    answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "unsold"
    balance = (await market.client.get(f"/v1/accounts/{buyer.id}/balance", headers=market.admin)).json()
    assert balance["balance_cents"] == 1_000_000 and balance["reserved_cents"] == 0


async def test_an_ftp_campaign_buys_a_lead_stored_as_one_file(market: Market, ftp: tuple[int, Path]) -> None:
    port, folder = ftp
    publisher = await market.publisher()
    buyer = await funded(market, "Files Inc")
    url = f"ftp://buyer:s3cret@127.0.0.1:{port}/in"
    await market.campaign(
        buyer, {"adapter": "ftp", "url": url, "format": "csv", "mapping": {"Id": "lead_id"}}
    )
    answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold", answer.text
    [stored] = list(folder.iterdir())
    assert stored.read_text().splitlines() == ["Id", answer.json()["lead_id"]]
    audit = await market.client.get(
        "/v1/deliveries", params={"lead_id": answer.json()["lead_id"]}, headers=market.admin
    )
    assert "s3cret" not in audit.text
