"""Alerts over the API: who hears of them, a buyer's low-balance threshold, the alerts raised.

    POST   /v1/alerts/subscriptions           {"kinds", "email"?, "webhook_url"?, "buyer_id"?}
    GET    /v1/alerts/subscriptions
    DELETE /v1/alerts/subscriptions/{id}
    PUT    /v1/alerts/thresholds/{buyer_id}   {"low_balance_cents": 5000 | null}
    GET    /v1/alerts/thresholds/{buyer_id}
    GET    /v1/alerts?kind=&buyer_id=&limit=&cursor=

Subscriptions are an operator's (every buyer's alerts, or one buyer's with `buyer_id`) or a
buyer's own (`buyer_id` is its own; another buyer's is a 404, as any other tenant's object).
The low-balance threshold belongs to the buyer, not to a subscription: set once, every
subscriber to `low_balance` (the buyer and operators alike) hears when that buyer's balance
falls below it. Alerts themselves are raised in the background (jobs/alerts.py), at most once
per condition, subject and UTC hour, and sent by jobs/notify.py.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec
from email_validator import EmailNotValidError, validate_email
from litestar import Controller, delete, get, post, put
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import delete as sql_delete
from sqlalchemy import select

from adapters.netguard import check_destination
from adapters.outbound.webhook import new_secret
from billing.alerts import Alert, AlertKind, alert_of
from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.params import BuyerId, PageCursor, PageLimit, SubscriptionId
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.errors import NotFound, field_invalid
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.storage.paging import newest_first
from exchange.storage.statements import dialect_insert
from exchange.types import Cents, ErrorBody, Page


class SubscriptionIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kinds: Annotated[
        list[AlertKind],
        msgspec.Meta(min_length=1),
        msgspec.Meta(
            description=(
                "The kinds of alert it hears of: `low_balance`, `cap_reached`, "
                "`delivery_failing`, `unsold_no_funds`."
            ),
            examples=[["low_balance", "delivery_failing"]],
        ),
    ]
    email: Annotated[
        Annotated[str, msgspec.Meta(min_length=1, max_length=320)] | None,
        msgspec.Meta(
            description=(
                "Where alerts are e-mailed (needs EXCHANGE_SMTP_RELAY); give this, `webhook_url`, or both."
            ),
            examples=["ops@acme.example"],
        ),
    ] = None
    webhook_url: Annotated[
        Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | None,
        msgspec.Meta(
            description=(
                "Where alerts are posted as JSON, signed per Standard Webhooks with the secret "
                "the answer returns once; an http(s) URL on a public address."
            ),
            examples=["https://hooks.acme.example/lead-alerts"],
        ),
    ] = None
    # An operator's: hear only of this buyer's alerts. A buyer's: its own id, or left out.
    buyer_id: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "An operator's: hear only of this buyer's alerts (omitted: every buyer's). A "
                "buyer's: its own id, or omitted."
            ),
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ] = None


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    id: Annotated[
        str, msgspec.Meta(description="The subscription's id.", examples=["asub_01jp9zr4681z3vk3hvwdpv6d88"])
    ]
    # "operator" or "buyer": whose it is.
    audience: Annotated[
        str, msgspec.Meta(description="Whose it is: `operator` or `buyer`.", examples=["buyer"])
    ]
    # Whose alerts it hears of; null: every buyer's.
    buyer_id: Annotated[
        str | None,
        msgspec.Meta(
            description="Whose alerts it hears of; null: every buyer's.",
            examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"],
        ),
    ]
    kinds: Annotated[
        list[AlertKind],
        msgspec.Meta(
            description="The kinds of alert it hears of.", examples=[["low_balance", "delivery_failing"]]
        ),
    ]
    email: Annotated[
        str | None,
        msgspec.Meta(
            description="Where alerts are e-mailed; null: not by e-mail.", examples=["ops@acme.example"]
        ),
    ]
    webhook_url: Annotated[
        str | None, msgspec.Meta(description="Where alerts are posted; null: no webhook.", examples=[None])
    ]
    created_at: Annotated[
        datetime, msgspec.Meta(description="When it was made (UTC).", examples=["2025-03-14T09:26:53Z"])
    ]


class SubscriptionCreated(Subscription, frozen=True, kw_only=True, omit_defaults=True):
    """A subscription as made; its webhooks' signing secret (Standard Webhooks) comes with it
    once, here, and never again."""

    webhook_secret: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "The signing secret of its webhooks (`whsec_…`), in this answer only; absent "
                "without a webhook."
            ),
            examples=["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"],
        ),
    ] = None


class SubscriptionPage(Page, kw_only=True):
    items: Annotated[
        list[Subscription], msgspec.Meta(description="Subscriptions the caller may see, newest first.")
    ]


class ThresholdIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Alert when the balance falls below this; null: no low-balance alerts.
    low_balance_cents: Annotated[
        Cents | None,
        msgspec.Meta(
            description=(
                "Alert when the buyer's balance falls below this, in cents; null: no low-balance alerts."
            ),
            examples=[25000],
        ),
    ]


class Threshold(msgspec.Struct, frozen=True, kw_only=True):
    buyer_id: Annotated[
        str, msgspec.Meta(description="The buyer.", examples=["buy_01jp9zmxn03exm3hm3fja2kj1q"])
    ]
    low_balance_cents: Annotated[
        int | None,
        msgspec.Meta(description="Its low-balance threshold, in cents; null: none set.", examples=[25000]),
    ]
    updated_at: Annotated[
        datetime | None,
        msgspec.Meta(
            description="When it was last set (UTC); null: never.", examples=["2025-03-14T09:26:53Z"]
        ),
    ]


class AlertPage(Page, kw_only=True):
    items: Annotated[list[Alert], msgspec.Meta(description="Alerts, newest first.")]


def subscription_of(row: Any) -> Subscription:
    return Subscription(**{name: getattr(row, name) for name in Subscription.__struct_fields__})


def _own_buyer(principal: Principal, buyer_id: str) -> None:
    """A buyer acts on its own account only: any other is a 404, its existence not revealed."""
    if principal.role == "buyer" and principal.buyer_id != buyer_id:
        raise NotFound(f"no buyer {buyer_id}")


async def _buyer_exists(services: Services, buyer_id: str) -> bool:
    async with services.engine.connect() as conn:
        return await conn.scalar(select(t.buyers.c.id).where(t.buyers.c.id == buyer_id)) is not None


def _email(services: Services, address: str) -> str:
    if not services.settings.smtp_relay:
        raise field_invalid(
            "email", "not_configured", "alerts by e-mail are not available here: EXCHANGE_SMTP_RELAY is unset"
        )
    try:
        valid = validate_email(
            address,
            check_deliverability=False,
            allow_smtputf8=False,
            test_environment=services.settings.allow_private_destinations,
        )
    except EmailNotValidError as exc:
        raise field_invalid(
            "email", "invalid_email", f"{address!r} is not an e-mail address: {exc}"
        ) from None
    return valid.ascii_email or valid.normalized


async def _webhook_url(services: Services, url: str) -> str:
    url = url.strip()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError as exc:
        raise field_invalid("webhook_url", "invalid_url", f"not a valid URL: {exc}") from None
    if scheme not in ("http", "https"):
        raise field_invalid("webhook_url", "invalid_url", "a webhook URL is https:// (or http://)")
    # The private-network check resolves the host name: off the event loop.
    await asyncio.to_thread(
        check_destination,
        url,
        allow_private=services.settings.allow_private_destinations,
        field="webhook_url",
    )
    return url


async def subscribe_for(
    services: Services, principal: Principal, data: SubscriptionIn
) -> SubscriptionCreated:
    """A new subscription: an operator's (every buyer's alerts, or `data.buyer_id`'s, which must
    exist) or a buyer's own; its webhook's signing secret is in this answer only."""
    principal.require("operator", "buyer")
    buyer_id = data.buyer_id
    if principal.role == "buyer":
        if buyer_id is not None:
            _own_buyer(principal, buyer_id)
        buyer_id = principal.buyer_id
    elif buyer_id is not None and not await _buyer_exists(services, buyer_id):
        raise field_invalid("buyer_id", "not_found", f"no buyer {buyer_id}")
    if data.email is None and data.webhook_url is None:
        raise field_invalid("email", "required", "give an e-mail address, a webhook_url, or both")
    email = _email(services, data.email) if data.email is not None else None
    url = await _webhook_url(services, data.webhook_url) if data.webhook_url is not None else None
    secret = new_secret() if url is not None else None
    subscription = SubscriptionCreated(
        id=new_id("asub"),
        audience=principal.role,
        buyer_id=buyer_id,
        kinds=sorted(set(data.kinds)),
        email=email,
        webhook_url=url,
        created_at=services.clock(),
        webhook_secret=secret,
    )
    async with services.engine.begin() as conn:
        await conn.execute(
            t.alert_subscriptions.insert().values(
                **msgspec.structs.asdict(subscription), created_by=principal.key_id
            )
        )
        await record_change(
            conn,
            principal,
            action="alert_subscription.create",
            entity_type="alert_subscription",
            entity_id=subscription.id,
            after=subscription,  # its webhook secret masked
            at=subscription.created_at,
        )
    return subscription


async def subscriptions_page_for(
    services: Services, principal: Principal, *, limit: int = 100, cursor: str | None = None
) -> SubscriptionPage:
    """The subscriptions the caller may see, newest first: an operator all, a buyer its own."""
    principal.require("operator", "buyer")
    s = t.alert_subscriptions.c
    query = select(t.alert_subscriptions)
    if principal.role == "buyer":
        query = query.where(s.audience == "buyer", s.buyer_id == principal.buyer_id)
    async with services.engine.connect() as conn:
        rows, next_cursor = await newest_first(conn, query, s.id, limit=limit, cursor=cursor)
    return SubscriptionPage(items=[subscription_of(row) for row in rows], next_cursor=next_cursor)


async def unsubscribe_for(services: Services, principal: Principal, subscription_id: str) -> Subscription:
    """Stop a subscription (an operator any, a buyer its own: any other is a 404)."""
    principal.require("operator", "buyer")
    s = t.alert_subscriptions.c
    async with services.engine.begin() as conn:
        row = (await conn.execute(select(t.alert_subscriptions).where(s.id == subscription_id))).first()
        if row is None or (
            principal.role == "buyer" and (row.audience != "buyer" or row.buyer_id != principal.buyer_id)
        ):
            raise NotFound(f"no alert subscription {subscription_id}")
        await conn.execute(sql_delete(t.alert_subscriptions).where(s.id == subscription_id))
        removed = subscription_of(row)
        await record_change(
            conn,
            principal,
            action="alert_subscription.delete",
            entity_type="alert_subscription",
            entity_id=subscription_id,
            before=removed,
            at=services.clock(),
        )
    return removed


async def set_threshold_for(
    services: Services, principal: Principal, buyer_id: str, data: ThresholdIn
) -> Threshold:
    """Set (or, with null, clear) a buyer's low-balance threshold: an operator any buyer's, a
    buyer its own (any other is a 404)."""
    principal.require("operator", "buyer")
    _own_buyer(principal, buyer_id)
    if not await _buyer_exists(services, buyer_id):
        raise NotFound(f"no buyer {buyer_id}")
    now = services.clock()
    th = t.alert_thresholds.c
    async with services.engine.begin() as conn:
        before = await conn.scalar(select(th.low_balance_cents).where(th.buyer_id == buyer_id))
        if data.low_balance_cents is None:
            await conn.execute(sql_delete(t.alert_thresholds).where(th.buyer_id == buyer_id))
        else:
            upsert = dialect_insert(conn.dialect.name, t.alert_thresholds).values(
                buyer_id=buyer_id, low_balance_cents=data.low_balance_cents, updated_at=now
            )
            await conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=[th.buyer_id],
                    set_={"low_balance_cents": upsert.excluded.low_balance_cents, "updated_at": now},
                )
            )
        await record_change(
            conn,
            principal,
            action="alert_threshold.update",
            entity_type="buyer",
            entity_id=buyer_id,
            before={"low_balance_cents": before},
            after={"low_balance_cents": data.low_balance_cents},
            at=now,
        )
    return Threshold(buyer_id=buyer_id, low_balance_cents=data.low_balance_cents, updated_at=now)


async def threshold_for(services: Services, principal: Principal, buyer_id: str) -> Threshold:
    """A buyer's low-balance threshold: staff any buyer's, a buyer its own (any other is a 404)."""
    principal.require("operator", "finance", "buyer")
    _own_buyer(principal, buyer_id)
    if not await _buyer_exists(services, buyer_id):
        raise NotFound(f"no buyer {buyer_id}")
    th = t.alert_thresholds.c
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(t.alert_thresholds).where(th.buyer_id == buyer_id))).first()
    if row is None:
        return Threshold(buyer_id=buyer_id, low_balance_cents=None, updated_at=None)
    return Threshold(buyer_id=buyer_id, low_balance_cents=row.low_balance_cents, updated_at=row.updated_at)


async def alerts_page_for(
    services: Services,
    principal: Principal,
    *,
    kind: AlertKind | None = None,
    buyer_id: str | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> AlertPage:
    """Alerts raised, newest first: staff all (or one buyer's), a buyer its own only."""
    principal.require("operator", "finance", "buyer")
    a = t.alerts.c
    query = select(t.alerts)
    if principal.role == "buyer":
        query = query.where(a.buyer_id == principal.buyer_id)
    if buyer_id is not None:
        query = query.where(a.buyer_id == buyer_id)
    if kind is not None:
        query = query.where(a.kind == kind)
    async with services.engine.connect() as conn:
        rows, next_cursor = await newest_first(conn, query, a.id, limit=limit, cursor=cursor)
    return AlertPage(items=[alert_of(row) for row in rows], next_cursor=next_cursor)


class AlertController(Controller):
    path = "/v1/alerts"
    tags = ["alerts"]

    @post(
        "/subscriptions",
        summary="Hear of alerts by e-mail or webhook (operator, or a buyer for itself)",
        opt=roles("operator", "buyer"),
        responses={
            404: ResponseSpec(
                ErrorBody, description="a buyer naming another buyer's id", generate_examples=False
            )
        },
    )
    async def subscribe(
        self, data: JSONBody[SubscriptionIn], principal: PrincipalDep, services: ServicesDep
    ) -> SubscriptionCreated:
        return await subscribe_for(services, principal, data)

    @get(
        "/subscriptions",
        summary="Alert subscriptions (operator: all; a buyer: its own)",
        opt=roles("operator", "buyer"),
    )
    async def list_subscriptions(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        limit: PageLimit = 100,
        cursor: PageCursor = None,
    ) -> SubscriptionPage:
        return await subscriptions_page_for(services, principal, limit=limit, cursor=cursor)

    @delete(
        "/subscriptions/{subscription_id:str}",
        status_code=200,
        summary="Stop a subscription (operator, or the buyer whose it is); alerts owed to it are not sent",
        opt=roles("operator", "buyer"),
    )
    async def unsubscribe(
        self, subscription_id: SubscriptionId, principal: PrincipalDep, services: ServicesDep
    ) -> Subscription:
        return await unsubscribe_for(services, principal, subscription_id)

    @put(
        "/thresholds/{buyer_id:str}",
        summary="Set a buyer's low-balance alert threshold (operator, or the buyer itself); null clears it",
        opt=roles("operator", "buyer"),
    )
    async def set_threshold(
        self,
        buyer_id: BuyerId,
        data: JSONBody[ThresholdIn],
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> Threshold:
        return await set_threshold_for(services, principal, buyer_id, data)

    @get(
        "/thresholds/{buyer_id:str}",
        summary="A buyer's alert thresholds (staff, or the buyer itself)",
        opt=roles("operator", "finance", "buyer"),
    )
    async def get_threshold(
        self, buyer_id: BuyerId, principal: PrincipalDep, services: ServicesDep
    ) -> Threshold:
        return await threshold_for(services, principal, buyer_id)

    @get(
        "/",
        summary="Alerts raised, newest first (staff: all; a buyer: its own)",
        opt=roles("operator", "finance", "buyer"),
    )
    async def list_alerts(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        kind: Annotated[AlertKind | None, QueryParameter(description="Only alerts of this kind.")] = None,
        buyer_id: Annotated[
            str | None,
            QueryParameter(description="Only this buyer's alerts (staff; a buyer's key sees its own only)."),
        ] = None,
        limit: PageLimit = 100,
        cursor: PageCursor = None,
    ) -> AlertPage:
        return await alerts_page_for(
            services, principal, kind=kind, buyer_id=buyer_id, limit=limit, cursor=cursor
        )
