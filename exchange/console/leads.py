"""Leads in the console: the list each role may see, and one lead's page with its timeline."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import Provide

from billing.statements import LedgerEntryView, period, read_entries
from exchange.api.leads import LeadEventView, LeadFilter, lead_events_for, lead_page_for, lead_view_for
from exchange.api.params import LeadId
from exchange.api.services import ServicesDep
from exchange.console.render import ViewerDep, page, provide_viewer
from exchange.console.returns import REASONS, returnable

LIST_ROWS = 100
# A lead's events fit one page: even a long auction makes a few hundred.
TIMELINE_EVENTS = 5000
# A lead's ledger postings: a sale, its returns and their reversals, a few transactions at most.
POSTINGS = 500
# Events shown as the auction's table rather than one by one.
AUCTION_KINDS = frozenset({"pinged", "bid"})


def auction_rows(events: list[LeadEventView]) -> list[dict[str, Any]]:
    """Each ping of the lead's auction: the campaign, its answer, its bid and how long it took."""
    rows = []
    for event in events:
        if event.kind not in AUCTION_KINDS:
            continue
        data, delivery = event.data, event.data.get("delivery") or {}
        rows.append(
            {
                "at": event.at,
                "campaign_id": data.get("campaign_id"),
                "status": data.get("status", event.kind),
                "bid_cents": data.get("bid_cents", data.get("price_cents")),
                "latency_ms": data.get("latency_ms", delivery.get("latency_ms")),
                "reason": data.get("reason") or data.get("error"),
            }
        )
    return rows


class ConsoleLeadController(Controller):
    path = "/console/leads"
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def leads(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep
    ) -> Response[str]:
        """The newest leads the account may see: all for staff, a publisher's own, a buyer's bought."""
        found = await lead_page_for(services, viewer, LeadFilter(), limit=LIST_ROWS, cursor=None)
        return await page(
            request,
            services,
            "leads.html",
            viewer,
            title="Leads",
            leads=found.items,
            returnable=await returnable(services, viewer, found.items),
            reasons=REASONS,
        )

    @get("/{lead_id:str}", include_in_schema=False)
    async def lead(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, lead_id: LeadId
    ) -> Response[str]:
        """The lead as the API shows it to this account (404 when not its own); for operators, the
        whole timeline from its events, as GET /v1/leads/{id}/events gives it to them."""
        lead = await lead_view_for(services, viewer, lead_id)
        events: list[LeadEventView] = []
        if viewer.role == "operator":
            events = (await lead_events_for(services, lead_id, limit=TIMELINE_EVENTS, cursor=None)).items
        postings: list[LedgerEntryView] | None = None
        if viewer.role in ("operator", "finance"):  # as GET /v1/ledger/entries?lead_id= shows them
            async with services.engine.connect() as conn:
                postings, _ = await read_entries(conn, period(None, None), limit=POSTINGS, lead_id=lead_id)
        return await page(
            request,
            services,
            "lead.html",
            viewer,
            title=f"Lead {lead.id}",
            lead=lead,
            events=[e for e in events if e.kind not in AUCTION_KINDS],
            auction=auction_rows(events),
            shows_timeline=viewer.role == "operator",
            postings=postings,
        )
