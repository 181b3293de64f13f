"""Campaigns: operators manage any; a buyer manages its own. Checked whole at save time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, QueryParameter
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.outbound.webhook import new_secret
from buyers.campaigns import Campaign, CampaignIn, CampaignPatch, check_delivery
from buyers.caps import check_caps
from buyers.filters import canonical_filters, check_filters
from buyers.pricing import check_pricing
from buyers.schedule import check_schedule
from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.campaign_usage import read_usage
from exchange.api.params import CampaignId
from exchange.api.services import Services, ServicesDep
from exchange.audit import record_change
from exchange.distribution.records import campaign_from_row
from exchange.errors import Conflict, NotFound, field_invalid
from exchange.ids import new_id
from exchange.storage import tables as t
from exchange.types import Page


class CampaignPage(Page, kw_only=True):
    items: Annotated[list[Campaign], msgspec.Meta(description="The campaigns on this page, by id.")]


class CampaignSaved(Campaign, frozen=True, kw_only=True, omit_defaults=True):
    """A campaign as saved; a webhook campaign's signing secret comes with it once, when the
    secret is made (at creation, or when a campaign becomes a webhook one)."""

    webhook_secret: Annotated[
        str | None,
        msgspec.Meta(
            description=(
                "A webhook campaign's signing secret (`whsec_…`), in the answer that made it "
                "only: at creation, or when a change made the campaign a webhook one. Absent "
                "otherwise."
            ),
            examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        ),
    ] = None


class WebhookSecret(msgspec.Struct, frozen=True, kw_only=True):
    webhook_secret: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The new signing secret (`whsec_…`), shown this once; it signs every webhook from now on."
            ),
            examples=["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"],
        ),
    ]
    # The secret it replaces is honoured (signs beside it) until then.
    previous_valid_until: Annotated[
        datetime | None,
        msgspec.Meta(
            description=(
                "Until when the secret it replaces still signs beside it (24 hours), so the "
                "buyer can switch without a gap; null when there was none still valid."
            ),
            examples=["2025-03-15T16:02:11Z"],
        ),
    ]


# How long a rotated-out signing secret still signs, so a buyer can switch without a gap.
SECRET_GRACE = timedelta(hours=24)


async def _check(services: Services, principal: Principal, data: CampaignIn) -> CampaignIn:
    """The campaign as it will be stored, or a 422 naming what cannot work."""
    if isinstance(data.delivery, dict) and "secrets" in data.delivery:
        raise field_invalid(
            "delivery.secrets",
            "read_only",
            "signing secrets are made by the exchange; rotate with POST /v1/campaigns/{id}/webhook-secret",
        )
    if principal.role == "buyer" and data.buyer_id != principal.buyer_id:
        raise NotFound(f"no buyer {data.buyer_id}")
    async with services.engine.connect() as conn:
        found = await conn.scalar(select(t.buyers.c.id).where(t.buyers.c.id == data.buyer_id))
    if found is None:
        raise field_invalid("buyer_id", "not_found", f"no buyer {data.buyer_id}")
    vertical = await services.verticals.get(data.vertical)
    if vertical is None:
        raise field_invalid("vertical", "unknown_vertical", f"no vertical {data.vertical!r}")
    check_filters(data.filters, vertical)
    # Enum values are stored in the spelling leads carry ("Single Family" → single_family).
    data = msgspec.structs.replace(data, filters=canonical_filters(data.filters, vertical))
    check_caps(data.caps)
    if data.schedule is not None:
        check_schedule(data.schedule)
    check_pricing(data.pricing)
    # The private-network check resolves the buyer's host name: off the event loop.
    await asyncio.to_thread(
        check_delivery,
        data.delivery,
        data.pricing,
        services.jobs.adapters,
        allow_private=services.settings.allow_private_destinations,
    )
    return data


def _campaign(row: Any) -> Campaign:
    return msgspec.structs.replace(campaign_from_row(row), archived_at=row.archived_at)


async def _load(services: Services, principal: Principal, campaign_id: str) -> Campaign:
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(t.campaigns).where(t.campaigns.c.id == campaign_id))).first()
    if row is None or (principal.role == "buyer" and row.buyer_id != principal.buyer_id):
        raise NotFound(f"no campaign {campaign_id}")
    return _campaign(row)


async def _views(services: Services, campaigns: list[Campaign]) -> list[Campaign]:
    """The campaigns as a read shows them: with their usage."""
    async with services.engine.connect() as conn:
        usage = await read_usage(conn, campaigns, services.clock())
    return [msgspec.structs.replace(c, usage=usage[c.id]) for c in campaigns]


def _refuse_archived(campaign: Campaign) -> None:
    if campaign.archived_at is not None:
        raise Conflict(
            f"campaign {campaign.id} is archived: it cannot be changed or made active again; "
            "create a new campaign instead",
            code="archived",
        )


async def create_campaign_for(services: Services, principal: Principal, data: CampaignIn) -> CampaignSaved:
    """Create a campaign as `POST /v1/campaigns` does: checked whole, recorded in the audit."""
    data = await _check(services, principal, data)
    now = services.clock()
    secret = new_secret() if _signs(data) else None
    campaign = CampaignSaved(
        **msgspec.structs.asdict(data),
        id=new_id("cmp"),
        created_at=now,
        updated_at=now,
        webhook_secret=secret,
    )
    async with services.engine.begin() as conn:
        await conn.execute(
            t.campaigns.insert().values(
                id=campaign.id,
                buyer_id=data.buyer_id,
                vertical=data.vertical,
                active=data.active,
                config=msgspec.to_builtins(data),
                webhook_secrets=[{"secret": secret, "until": None}] if secret else None,
                created_at=now,
                updated_at=now,
            )
        )
        await record_change(
            conn,
            principal,
            action="campaign.create",
            entity_type="campaign",
            entity_id=campaign.id,
            after=campaign,  # its webhook_secret masked
            at=now,
        )
    await services.changes.changed("campaigns")
    return campaign


async def campaigns_for(
    services: Services,
    principal: Principal,
    *,
    buyer_id: str | None = None,
    vertical: str | None = None,
    active: bool | None = None,
    archived: bool = False,
) -> list[Campaign]:
    """The campaigns `GET /v1/campaigns` lists to this caller (a buyer: its own), with their usage."""
    c = t.campaigns.c
    query = select(t.campaigns).order_by(c.id)
    query = query.where(c.archived_at.is_not(None) if archived else c.archived_at.is_(None))
    if principal.role == "buyer":
        query = query.where(c.buyer_id == principal.buyer_id)
    if buyer_id is not None:
        query = query.where(c.buyer_id == buyer_id)
    if vertical is not None:
        query = query.where(c.vertical == vertical)
    if active is not None:
        query = query.where(c.active.is_(active))
    async with services.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return await _views(services, [_campaign(row) for row in rows])


async def campaign_for(services: Services, principal: Principal, campaign_id: str) -> Campaign:
    """One campaign with its usage, as `GET /v1/campaigns/{id}` shows it (404 when not the caller's)."""
    return (await _views(services, [await _load(services, principal, campaign_id)]))[0]


async def archive_campaign_for(services: Services, principal: Principal, campaign_id: str) -> Campaign:
    """Archive a campaign as `DELETE /v1/campaigns/{id}` does: at once and for good."""
    current = await _load(services, principal, campaign_id)
    if current.archived_at is None:
        now = services.clock()
        c = t.campaigns.c
        async with services.engine.begin() as conn:
            config = await conn.scalar(select(c.config).where(c.id == campaign_id))
            archived = await conn.execute(
                update(t.campaigns)
                .where(c.id == campaign_id, c.archived_at.is_(None))
                .values(active=False, config={**config, "active": False}, archived_at=now, updated_at=now)
            )
            if archived.rowcount == 1:
                await record_change(
                    conn,
                    principal,
                    action="campaign.archive",
                    entity_type="campaign",
                    entity_id=campaign_id,
                    before={"active": current.active, "archived_at": None},
                    after={"active": False, "archived_at": now},
                    at=now,
                )
        # Every process's catalogue drops it now (api/changes.py), not within its TTL.
        await services.changes.changed("campaigns")
        current = await _load(services, principal, campaign_id)
    return (await _views(services, [current]))[0]


async def update_campaign_for(
    services: Services, principal: Principal, campaign_id: str, changes: Any
) -> CampaignSaved:
    """Apply the keys of a change (a `PATCH` body, decoded) to a campaign, checked whole as at creation."""
    current = await _load(services, principal, campaign_id)
    _refuse_archived(current)
    if not isinstance(changes, dict):
        raise field_invalid("body", "invalid_body", "send an object of the keys to change")
    fixed = {"id", "created_at", "updated_at", "archived_at", "usage"} & set(changes)
    if fixed:
        raise field_invalid(sorted(fixed)[0], "read_only", "cannot be changed")
    merged = {**msgspec.to_builtins(_config(current)), **changes}
    try:
        data = msgspec.convert(merged, CampaignIn)
    except msgspec.ValidationError as exc:
        raise field_invalid(_path(str(exc)), "invalid", str(exc)) from None
    data = await _check(services, principal, data)
    now = services.clock()
    secret = None
    async with services.engine.begin() as conn:
        values: dict[str, Any] = {
            "buyer_id": data.buyer_id,
            "vertical": data.vertical,
            "active": data.active,
            "config": msgspec.to_builtins(data),
            "updated_at": now,
        }
        if _signs(data) and not await _secrets_of(conn, campaign_id):
            secret = new_secret()
            values["webhook_secrets"] = [{"secret": secret, "until": None}]
        # Archived meanwhile: refused, as it would have been a moment later.
        changed = await conn.execute(
            update(t.campaigns)
            .where(t.campaigns.c.id == campaign_id, t.campaigns.c.archived_at.is_(None))
            .values(**values)
        )
        if changed.rowcount == 0:
            _refuse_archived(msgspec.structs.replace(current, archived_at=now))
        await record_change(
            conn,
            principal,
            action="campaign.update",
            entity_type="campaign",
            entity_id=campaign_id,
            before=_config(current),
            # A signing secret made now shows (masked) as a change.
            after={**msgspec.to_builtins(data), **({"webhook_secret": secret} if secret else {})},
            at=now,
        )
    await services.changes.changed("campaigns")
    return CampaignSaved(
        **msgspec.structs.asdict(data),
        id=campaign_id,
        created_at=current.created_at,
        updated_at=now,
        webhook_secret=secret,
    )


class CampaignController(Controller):
    path = "/v1/campaigns"
    tags = ["campaigns"]

    @post("/", summary="Create a campaign (operator, or a buyer for itself)", opt=roles("operator", "buyer"))
    async def create_campaign(
        self, data: JSONBody[CampaignIn], principal: PrincipalDep, services: ServicesDep
    ) -> CampaignSaved:
        return await create_campaign_for(services, principal, data)

    @get("/", summary="Campaigns the caller may see", opt=roles("operator", "buyer"))
    async def list_campaigns(
        self,
        principal: PrincipalDep,
        services: ServicesDep,
        buyer_id: Annotated[
            str | None,
            QueryParameter(description="Only this buyer's campaigns (a buyer's key sees its own only)."),
        ] = None,
        vertical: Annotated[
            str | None, QueryParameter(description="Only campaigns buying this vertical.")
        ] = None,
        active: Annotated[
            bool | None, QueryParameter(description="Only active (`true`) or paused (`false`) campaigns.")
        ] = None,
        archived: Annotated[
            bool,
            QueryParameter(
                description=(
                    "`true`: archived campaigns only; `false` (the default): campaigns not archived."
                )
            ),
        ] = False,
    ) -> CampaignPage:
        found = await campaigns_for(
            services, principal, buyer_id=buyer_id, vertical=vertical, active=active, archived=archived
        )
        return CampaignPage(items=found)

    @get("/{campaign_id:str}", summary="One campaign, with its cap usage", opt=roles("operator", "buyer"))
    async def get_campaign(
        self, campaign_id: CampaignId, principal: PrincipalDep, services: ServicesDep
    ) -> Campaign:
        return await campaign_for(services, principal, campaign_id)

    @delete(
        "/{campaign_id:str}",
        status_code=200,
        summary="Archive a campaign: it stops buying at once and for good; its history stays",
        opt=roles("operator", "buyer"),
    )
    async def archive_campaign(
        self, campaign_id: CampaignId, principal: PrincipalDep, services: ServicesDep
    ) -> Campaign:
        return await archive_campaign_for(services, principal, campaign_id)

    @patch(
        "/{campaign_id:str}",
        summary='Change a campaign; pause it with {"active": false}',
        opt=roles("operator", "buyer"),
    )
    async def update_campaign(
        self,
        campaign_id: CampaignId,
        request: Request[Any, Any, Any],
        # Checked and documented as sent; which keys were sent is read off the body below.
        data: JSONBody[CampaignPatch],  # type: ignore[valid-type]
        principal: PrincipalDep,
        services: ServicesDep,
    ) -> CampaignSaved:
        _refuse_archived(await _load(services, principal, campaign_id))  # before the body is read
        try:
            changes = msgspec.json.decode(await request.body())
        except msgspec.DecodeError as exc:
            raise field_invalid("body", "malformed_json", str(exc)) from None
        return await update_campaign_for(services, principal, campaign_id, changes)

    @post(
        "/{campaign_id:str}/webhook-secret",
        summary="Rotate a webhook campaign's signing secret (the old one signs beside it for 24 hours)",
        status_code=200,
        opt=roles("operator", "buyer"),
    )
    async def rotate_webhook_secret(
        self, campaign_id: CampaignId, principal: PrincipalDep, services: ServicesDep
    ) -> WebhookSecret:
        current = await _load(services, principal, campaign_id)
        if not _signs(current):
            raise field_invalid("delivery.adapter", "not_a_webhook", "only webhook deliveries are signed")
        now = services.clock()
        secret = new_secret()
        until = now + SECRET_GRACE
        async with services.engine.begin() as conn:
            kept = [
                {"secret": s["secret"], "until": s["until"] if s["until"] is not None else until.timestamp()}
                for s in await _secrets_of(conn, campaign_id)
                if s["until"] is None or s["until"] > now.timestamp()
            ]
            await conn.execute(
                update(t.campaigns)
                .where(t.campaigns.c.id == campaign_id)
                .values(webhook_secrets=[{"secret": secret, "until": None}, *kept], updated_at=now)
            )
            await record_change(
                conn,
                principal,
                action="campaign.rotate_webhook_secret",
                entity_type="campaign",
                entity_id=campaign_id,
                after={"webhook_secret": secret},
                at=now,
            )
        await services.changes.changed("campaigns")
        return WebhookSecret(webhook_secret=secret, previous_valid_until=until if kept else None)


def _signs(campaign: CampaignIn) -> bool:
    return campaign.delivery.get("adapter") == "webhook"


async def _secrets_of(conn: AsyncConnection, campaign_id: str) -> list[dict[str, Any]]:
    found = await conn.scalar(select(t.campaigns.c.webhook_secrets).where(t.campaigns.c.id == campaign_id))
    return list(found or [])


def _config(campaign: Campaign) -> CampaignIn:
    values = msgspec.structs.asdict(campaign)
    for key in ("id", "created_at", "updated_at", "archived_at", "usage"):
        values.pop(key)
    return CampaignIn(**values)


def _path(message: str) -> str:
    marker = "at `$."
    return message.split(marker, 1)[1].rstrip("`") if marker in message else "body"
