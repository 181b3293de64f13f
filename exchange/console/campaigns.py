"""Campaigns in the console: the list with each cap's use today, pause and resume, archive, and
the form that edits or creates one. Operators manage all; a buyer its own. Every change goes
through the API's own functions (exchange/api/campaigns.py), checks and audit included."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect

from buyers.campaigns import Campaign, CampaignIn
from buyers.schedule import DAYS
from exchange.api.auth import Principal
from exchange.api.campaigns import (
    CampaignSaved,
    archive_campaign_for,
    campaign_for,
    campaigns_for,
    create_campaign_for,
    update_campaign_for,
)
from exchange.api.params import CampaignId
from exchange.api.services import Services, ServicesDep
from exchange.console.campaign_form import (
    GRADES,
    OPS,
    PERIODS,
    changes_of,
    new_campaign_of,
    row_count,
    values_of,
)
from exchange.console.delivery_form import (
    ANSWER_FORMATS,
    BODY_FORMATS,
    EMAIL_FORMATS,
    ERROR_ALIASES,
    KINDS,
    delivery_of,
)
from exchange.console.delivery_form import FIELDS as DELIVERY_FIELDS
from exchange.console.fields import converted, form_of
from exchange.console.fields import placed_errors as placed
from exchange.console.render import NO_STORE, ViewerDep, page, provide_viewer
from exchange.errors import ExchangeError, field_invalid

LIST = "/console/campaigns"


def status_of(campaign: Campaign) -> str:
    if campaign.archived_at is not None:
        return "archived"
    return "active" if campaign.active else "paused"


def _fields(values: dict[str, str]) -> set[str]:
    """Every field name the form shows: an error naming one is shown beside it."""
    names = {"name", "buyer_id", "vertical", "schedule.timezone", "pricing.model"} | DELIVERY_FIELDS
    names |= {"pricing.floor_cents"} | {f"pricing.cents_by_grade.{g}" for g in GRADES}
    names |= {f"schedule.hours.{day}" for day in DAYS}
    for n in range(row_count(values, "caps")):
        names |= {f"caps[{n}].{part}" for part in ("period", "max_leads", "max_spend_cents")}
    for n in range(row_count(values, "filters")):
        names |= {f"filters[{n}].{part}" for part in ("field", "op", "value")}
    return names


def placed_errors(exc: ExchangeError, values: dict[str, str]) -> dict[str, list[str]]:
    return placed(exc, _fields(values), ERROR_ALIASES)


async def _form_page(
    request: Request[Any, Any, Any],
    services: Services,
    viewer: Principal,
    campaign: Campaign | None,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, list[str]] | None = None,
) -> Response[str]:
    values = values_of(campaign, form)
    verticals = [v.key for v in await services.verticals.all()]
    return await page(
        request,
        services,
        "campaign.html",
        viewer,
        status=422 if errors else 200,
        title=f"Campaign {campaign.name or campaign.id}" if campaign else "New campaign",
        campaign=campaign,
        status_of=status_of,
        values=values,
        errors=errors or {},
        delivery_kinds=KINDS,
        body_formats=BODY_FORMATS,
        answer_formats=ANSWER_FORMATS,
        email_formats=EMAIL_FORMATS,
        caps_rows=row_count(values, "caps"),
        filter_rows=row_count(values, "filters"),
        grades=GRADES,
        periods=PERIODS,
        ops=OPS,
        days=DAYS,
        verticals=verticals,
    )


async def _saved(
    request: Request[Any, Any, Any], services: Services, viewer: Principal, saved: CampaignSaved
) -> Response[Any]:
    """Back to the campaign; but a webhook signing secret made by this save is shown first, once,
    on a page no browser keeps (the API answers it this once too)."""
    if not saved.webhook_secret:
        return Redirect(f"{LIST}/{saved.id}", status_code=303)
    answer = await page(
        request,
        services,
        "secret_shown.html",
        viewer,
        title=f"Campaign {saved.name or saved.id} saved",
        campaign=saved,
    )
    answer.headers.update(NO_STORE)
    return answer


class ConsoleCampaignController(Controller):
    path = LIST
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def campaigns(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[str]:
        """Every campaign the account may manage, archived ones last."""
        viewer.require("operator", "buyer")
        found = await campaigns_for(services, viewer) + await campaigns_for(services, viewer, archived=True)
        return await page(
            request,
            services,
            "campaigns.html",
            viewer,
            title="Campaigns",
            campaigns=found,
            status_of=status_of,
        )

    @get("/new", include_in_schema=False)
    async def new_form(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[str]:
        viewer.require("operator", "buyer")
        return await _form_page(request, services, viewer, None)

    @post("/new", include_in_schema=False, status_code=303)
    async def create(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[Any]:
        """Create a campaign through the API's own checks; a 422 comes back as the form, marked."""
        viewer.require("operator", "buyer")
        form = await form_of(request)
        try:
            buyer_id = viewer.buyer_id if viewer.role == "buyer" else str(form.get("buyer_id") or "").strip()
            if not buyer_id:
                raise field_invalid("buyer_id", "required", "buyer_id: name the buyer the campaign buys for")
            body = {k: v for k, v in new_campaign_of(form, buyer_id).items() if v is not None}
            saved = await create_campaign_for(services, viewer, converted(body, CampaignIn))
        except ExchangeError as exc:
            if exc.status_code != 422:
                raise
            return await _form_page(
                request, services, viewer, None, form=form, errors=placed_errors(exc, form)
            )
        return await _saved(request, services, viewer, saved)

    @get("/{campaign_id:str}", include_in_schema=False)
    async def campaign(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        campaign_id: CampaignId,
    ) -> Response[str]:
        viewer.require("operator", "buyer")
        return await _form_page(request, services, viewer, await campaign_for(services, viewer, campaign_id))

    @post("/{campaign_id:str}", include_in_schema=False, status_code=303)
    async def save(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        campaign_id: CampaignId,
    ) -> Response[Any]:
        """The form's settings as a PATCH of the campaign; the API's 422 beside the fields."""
        viewer.require("operator", "buyer")
        current = await campaign_for(services, viewer, campaign_id)
        form = await form_of(request)
        try:
            changes = changes_of(form)
            delivery = delivery_of(form)
            if delivery is not None and delivery != current.delivery:  # untouched, it is not sent
                changes["delivery"] = delivery
            saved = await update_campaign_for(services, viewer, campaign_id, changes)
        except ExchangeError as exc:
            if exc.status_code != 422:
                raise
            errors = placed_errors(exc, form)
            return await _form_page(request, services, viewer, current, form=form, errors=errors)
        return await _saved(request, services, viewer, saved)

    @post("/{campaign_id:str}/pause", include_in_schema=False, status_code=303)
    async def pause(self, services: ServicesDep, viewer: ViewerDep, campaign_id: CampaignId) -> Redirect:
        viewer.require("operator", "buyer")
        await update_campaign_for(services, viewer, campaign_id, {"active": False})
        return Redirect(LIST, status_code=303)

    @post("/{campaign_id:str}/resume", include_in_schema=False, status_code=303)
    async def resume(self, services: ServicesDep, viewer: ViewerDep, campaign_id: CampaignId) -> Redirect:
        viewer.require("operator", "buyer")
        await update_campaign_for(services, viewer, campaign_id, {"active": True})
        return Redirect(LIST, status_code=303)

    @post("/{campaign_id:str}/archive", include_in_schema=False, status_code=303)
    async def archive(self, services: ServicesDep, viewer: ViewerDep, campaign_id: CampaignId) -> Redirect:
        viewer.require("operator", "buyer")
        await archive_campaign_for(services, viewer, campaign_id)
        return Redirect(LIST, status_code=303)
