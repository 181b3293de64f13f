"""The `webhook` delivery adapter: the lead as JSON, signed per Standard Webhooks.

`delivery = {"adapter": "webhook", "url": "https://…", "timeout_ms"?}`. The exchange keeps each
campaign's signing secret (`whsec_…`, shown once when the campaign is created, rotatable) apart
from its settings and hands it in as `secrets` when the campaign is read; while a rotated-out
secret is still honoured, every secret signs and the signatures go space-separated in one
header, as the scheme allows.

The `webhook-id` is the delivery id, the same on every attempt of one post, so a receiver
that verifies and de-duplicates by it never takes one lead twice. The timestamp is the moment
of sending: a post sent again after a takeover is signed again, fresh.
"""

from __future__ import annotations

import base64
import secrets as random_secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from standardwebhooks import Webhook

from adapters.netguard import check_destination
from adapters.outbound.http import HttpClient, delivered
from adapters.outbound.protocol import Delivery, Request, Stage
from exchange.errors import field_invalid

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """A fresh signing secret in the scheme's own form: `whsec_` and 32 random bytes, base64."""
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(32)).decode("ascii")


class WebhookConfig(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    timeout_ms: Annotated[int, msgspec.Meta(ge=10, le=60_000)] = 10_000
    # Handed in by the exchange, never by the buyer (campaigns.webhook_secrets).
    secrets: list[str] = msgspec.field(default_factory=list)


class WebhookAdapter:
    name = "webhook"
    can_ping = False  # a webhook tells; it does not quote a price
    answers = True  # a 2xx takes the lead; a 4xx refuses it; a 5xx is worth another try

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def configure(self, delivery: Mapping[str, Any], *, allow_private: bool, field: str) -> WebhookConfig:
        unknown = set(delivery) - {"adapter", "url", "timeout_ms", "secrets"}
        if unknown:
            raise field_invalid(
                f"{field}.{sorted(unknown)[0]}", "unknown_field", "not a key of a webhook delivery"
            )
        if "url" not in delivery:
            raise field_invalid(f"{field}.url", "required", "a webhook needs the URL it is sent to")
        try:
            config = msgspec.convert({k: v for k, v in delivery.items() if k != "adapter"}, WebhookConfig)
        except msgspec.ValidationError as exc:
            raise field_invalid(field, "invalid", str(exc)) from None
        if urlsplit(config.url.strip()).scheme.lower() not in ("http", "https"):
            raise field_invalid(f"{field}.url", "invalid_url", "a webhook URL is http or https")
        check_destination(config.url, allow_private=allow_private, field=f"{field}.url")
        for secret in config.secrets:
            try:
                Webhook(secret)
            except Exception:
                raise field_invalid(f"{field}.secrets", "invalid", "not a webhook signing secret") from None
        return config

    def request(
        self,
        config: WebhookConfig,
        stage: Stage,
        fields: Mapping[str, Any],
        *,
        shared: dict[Any, Any] | None = None,
    ) -> Request:
        if stage != "post":
            raise ValueError("a webhook carries posts only")
        return Request(
            adapter=self.name,
            target=config.url,
            body=msgspec.json.encode(fields).decode("utf-8"),
            content_type="application/json",
            timeout_ms=config.timeout_ms,
            options={"method": "POST", "sign_with": config.secrets},
            secrets=list(config.secrets),
        )

    async def send(self, request: Request, *, key: str | None) -> Delivery:
        body = request.body.encode("utf-8")
        message_id = key or f"msg_{random_secrets.token_hex(12)}"
        now = datetime.now(UTC)
        signatures = " ".join(
            Webhook(secret).sign(message_id, now, body) for secret in request.options.get("sign_with", [])
        )
        headers = {
            "webhook-id": message_id,
            "webhook-timestamp": str(int(now.timestamp())),
        }
        if signatures:
            headers["webhook-signature"] = signatures
        answer = await self.client.send(
            "POST", request.target, headers, body, request.content_type, request.timeout_ms
        )
        # A receiver asking to slow down (429) will take the lead later.
        return delivered(answer, retry_statuses=frozenset({429}))

    async def close(self) -> None:
        await self.client.close()
