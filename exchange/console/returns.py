"""Returns in the console: a buyer files one from its lead list and follows its status; an
operator decides the queue, pending first. Through the API's own functions (exchange/api/returns.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar, get_args

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.response import Redirect

from billing.returns import ReturnReason, ReturnView
from exchange.api.auth import Principal
from exchange.api.campaigns import campaigns_for
from exchange.api.leads import LeadView
from exchange.api.params import LeadId, ReturnId
from exchange.api.returns import DecisionIn, ReturnIn, decide_return_for, file_return, returns_for
from exchange.api.services import Services, ServicesDep
from exchange.console.render import ViewerDep, page, provide_viewer
from exchange.errors import field_invalid

REASONS: tuple[str, ...] = get_args(ReturnReason)
QUEUE = "/console/returns"
T = TypeVar("T")


async def returnable(services: Services, viewer: Principal, leads: list[LeadView]) -> dict[str, str]:
    """For a buyer's list: each lead it may still return (its sale within the campaign's window,
    no return filed yet), by id, with when the window closes; any other lead is not in it."""
    if viewer.role != "buyer":
        return {}
    campaigns = await campaigns_for(services, viewer) + await campaigns_for(services, viewer, archived=True)
    windows = {c.id: timedelta(hours=c.return_window_hours) for c in campaigns}
    filed = {r.lead_id for r in await returns_for(services, viewer)}
    now, open_until = services.clock(), {}
    for lead in leads:
        sale = next((s for s in lead.sales or [] if s.buyer_id == viewer.buyer_id and not s.returned), None)
        if sale is None or lead.id in filed or sale.campaign_id not in windows:
            continue
        closes: datetime = sale.sold_at + windows[sale.campaign_id]
        if now <= closes:
            open_until[lead.id] = closes.strftime("%Y-%m-%d %H:%M UTC")
    return open_until


def _text(form: Any, name: str) -> str | None:
    value = form.get(name)
    return value.strip() or None if isinstance(value, str) else None


def _read(kind: type[T], values: dict[str, Any]) -> T:
    """The form's values as the API's request body; a bad one named as the API names it."""
    try:
        return msgspec.convert(values, kind)
    except msgspec.ValidationError as exc:
        message = str(exc)
        where = message.split("at `$.", 1)[1].rstrip("`") if "at `$." in message else "form"
        raise field_invalid(where, "invalid", message) from None


def _queue_order(items: list[ReturnView]) -> list[ReturnView]:
    """Pending returns first (oldest first, as they wait), then the decided ones, newest first."""
    pending = sorted((r for r in items if r.status == "pending"), key=lambda r: r.id)
    return pending + [r for r in items if r.status != "pending"]


class ConsoleReturnController(Controller):
    path = "/console"
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/returns", include_in_schema=False)
    async def returns(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[str]:
        viewer.require("operator", "finance", "buyer")
        found = _queue_order(await returns_for(services, viewer))
        return await page(
            request,
            services,
            "returns.html",
            viewer,
            title="Returns",
            returns=found,
            decides=viewer.role == "operator",
        )

    @post("/leads/{lead_id:str}/return", include_in_schema=False, status_code=303)
    async def file(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, lead_id: LeadId
    ) -> Redirect:
        """A buyer returns a lead it bought, as `POST /v1/leads/{id}/returns` does."""
        viewer.require("buyer")
        form = await request.form()
        data = _read(ReturnIn, {"reason": _text(form, "reason"), "note": _text(form, "note")})
        await file_return(services, viewer, lead_id, data)
        return Redirect(QUEUE, status_code=303)

    @post("/returns/{return_id:str}/decision", include_in_schema=False, status_code=303)
    async def decide(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, return_id: ReturnId
    ) -> Redirect:
        """An operator approves or rejects a pending return, with a note for the buyer."""
        viewer.require("operator")
        form = await request.form()
        decision = _text(form, "decision")
        if decision not in ("approve", "reject"):
            raise field_invalid("decision", "invalid_choice", "decision is approve or reject")
        data = _read(DecisionIn, {"approve": decision == "approve", "note": _text(form, "note")})
        await decide_return_for(services, viewer, return_id, data)
        return Redirect(QUEUE, status_code=303)
