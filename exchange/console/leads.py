"""Leads in the console: the list each role may see, and one lead's page with its timeline."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get
from litestar.di import Provide
from litestar.params import Parameter

from billing.statements import LedgerEntryView, period, read_entries
from exchange.api.leads import LeadEventView, lead_events_for, lead_page_for, lead_view_for
from exchange.api.params import LeadId
from exchange.api.services import ServicesDep
from exchange.console.flow import STATUSES, Filter, flow_filter
from exchange.console.money import day_of
from exchange.console.render import ViewerDep, page, provide_viewer
from exchange.console.returns import REASONS, returnable

LIST_ROWS = 100
STAFF = ("operator", "finance")
Rows = Annotated[int, Parameter(ge=1, le=500, description="Leads per page.")]
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


def _older_link(shown: dict[str, str], cursor: str | None) -> str | None:
    """The address of the next page under the same filters; None on the last page."""
    if cursor is None:
        return None
    return "/console/leads?" + urlencode({**{k: v for k, v in shown.items() if v}, "cursor": cursor})


class ConsoleLeadController(Controller):
    path = "/console/leads"
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def leads(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        status: Filter = None,
        vertical: Filter = None,
        publisher: Filter = None,
        sub_id: Filter = None,
        since: Filter = None,
        until: Filter = None,
        cursor: Filter = None,
        limit: Rows = LIST_ROWS,
    ) -> Response[str]:
        """The newest leads the account may see (all for staff, a publisher's own, a buyer's
        bought), filtered as GET /v1/leads filters them, a page at a time."""
        only = flow_filter(vertical, publisher if viewer.role in STAFF else None, sub_id, status)
        first, last = day_of(since, "since"), day_of(until, "until")
        period(first, last)  # a backwards span is a 422 naming `since`, as the API's is
        only = replace(only, since=first, until=last)
        found = await lead_page_for(services, viewer, only, limit=limit, cursor=cursor or None)
        shown = {"status": status, "vertical": vertical, "publisher": publisher, "sub_id": sub_id}
        shown |= {"since": since, "until": until}
        shown = {name: value or "" for name, value in shown.items()}
        return await page(
            request,
            services,
            "leads.html",
            viewer,
            title="Leads",
            leads=found.items,
            returnable=await returnable(services, viewer, found.items),
            reasons=REASONS,
            shown=shown,
            statuses=STATUSES,
            verticals=[v.key for v in await services.verticals.all()],
            older=_older_link(
                {**shown, "limit": str(limit) if limit != LIST_ROWS else ""}, found.next_cursor
            ),
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
