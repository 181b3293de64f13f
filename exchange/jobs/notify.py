"""The `send_alert` job: one alert to one subscriber over one channel, an outbox row of its own.

E-mail goes through the relay e-mail deliveries use (EXCHANGE_SMTP_RELAY), as text a person
reads; a webhook is the alert as JSON, signed per Standard Webhooks with the subscription's
secret, sent through the private-network guard like buyers' webhooks. Both go through the
delivery adapters of the registry (adapters/outbound). Every attempt carries the same id
(`ALERT.SUBSCRIPTION`: the Message-ID, the webhook-id), so a receiver tells a repeat from a
second alert. A failure raises: the outbox tries again later and parks the row, for
operators, once its attempts are spent (`GET /v1/jobs?job=send_alert&state=failed`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select

from adapters.outbound.protocol import Delivery, Request
from billing.alerts import Alert, alert_of
from exchange.jobs.distribute import JobContext
from exchange.storage import tables as t
from exchange.storage.outbox import Lease

TIMEOUT_MS = 10_000
_LABELS = {
    "low_balance": "low balance",
    "cap_reached": "cap reached",
    "delivery_failing": "delivery failing",
    "unsold_no_funds": "leads unsold for lack of funds",
}


class NotSent(Exception):
    """The relay or the receiver did not take the alert; the outbox tries again."""


async def send_alert(
    ctx: JobContext,
    *,
    alert_id: str,
    subscription_id: str,
    channel: str,
    lease: Lease,
    **_: Any,
) -> None:
    async with ctx.engine.connect() as conn:
        row = (await conn.execute(select(t.alerts).where(t.alerts.c.id == alert_id))).first()
        s = t.alert_subscriptions.c
        subscription = (
            await conn.execute(
                select(s.email, s.webhook_url, s.webhook_secret).where(s.id == subscription_id)
            )
        ).first()
    if row is None or subscription is None:
        return  # unsubscribed since it was raised: nothing is owed
    alert = alert_of(row)
    key = f"{alert_id}.{subscription_id}"
    if channel == "email" and subscription.email:
        request = email_request(alert, subscription.email)
    elif channel == "webhook" and subscription.webhook_url:
        request = webhook_request(alert, subscription.webhook_url, subscription.webhook_secret)
    else:
        return  # the subscription no longer has this channel
    adapter = ctx.adapters.adapter_for(request.adapter)
    if adapter is None:
        raise NotSent(f"no {request.adapter} adapter is installed")
    delivery = await adapter.send(request, key=key)
    if not was_taken(delivery):
        raise NotSent(f"{channel} to subscription {subscription_id}: {delivery.error or delivery.status}")


def was_taken(delivery: Delivery) -> bool:
    """The relay's 250, or the receiver's 2xx."""
    status = delivery.status or 0
    return delivery.error is None and (status == 250 or 200 <= status < 300)


def email_request(alert: Alert, to: str) -> Request:
    label = _LABELS.get(alert.kind, alert.kind)
    lines = [
        alert.message,
        "",
        f"Alert: {label}",
        f"Buyer: {alert.buyer_id}",
        *([f"Campaign: {alert.campaign_id}"] if alert.campaign_id else []),
        f"Raised at: {alert.raised_at.isoformat()}",
        *(f"{name}: {value}" for name, value in alert.detail.items()),
        "",
        f"Alert id: {alert.id}",
        "At most one alert per condition and hour; the exchange lists them at GET /v1/alerts.",
    ]
    return Request(
        adapter="email",
        target=to,
        body="\n".join(lines) + "\n",
        content_type="text/plain",
        options={"subject": f"Alert: {label} ({alert.buyer_id})"},
        timeout_ms=TIMEOUT_MS,
    )


def webhook_request(alert: Alert, url: str, secret: str | None) -> Request:
    body = {"type": f"alert.{alert.kind}", "timestamp": alert.raised_at, "data": alert}
    return Request(
        adapter="webhook",
        target=url,
        body=msgspec.json.encode(body).decode("utf-8"),
        content_type="application/json",
        options={"method": "POST", "sign_with": [secret] if secret else []},
        timeout_ms=TIMEOUT_MS,
        secrets=[secret] if secret else [],
    )
