"""The delivery audit in the console (operators): every ping and post with what was sent and
what came back, filtered by buyer, campaign, status and day, and a failed post sent again.
Read and re-sent through the API's own functions (exchange/api/deliveries.py)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Redirect

from exchange.api.deliveries import DeliveryFilter, delivery_page_for, resend_for
from exchange.api.params import DeliveryId
from exchange.api.services import ServicesDep
from exchange.console.render import ViewerDep, page, provide_viewer
from exchange.distribution.resend import RESENDABLE
from exchange.errors import field_invalid

AUDIT_ROWS = 100
STATUSES = ("bid", "no_bid", "accepted", "rejected", "failed", "timeout", "unanswered")

Filter = Annotated[str | None, Parameter(description="Only attempts with this value ('' for any).")]


def _day(name: str, text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise field_invalid(name, "invalid_date", f"{name} is a day, YYYY-MM-DD") from None


def audit_filter(
    buyer: str | None, campaign: str | None, status: str | None, since: str | None, until: str | None
) -> DeliveryFilter:
    """The GET form's filters, an empty field meaning any; a bad status or day is a 422."""
    if status and status not in STATUSES:
        raise field_invalid("status", "invalid_choice", f"status must be one of: {', '.join(STATUSES)}")
    return DeliveryFilter(
        buyer_id=buyer or None,
        campaign_id=campaign or None,
        status=status or None,
        since=_day("since", since),
        until=_day("until", until),
    )


class ConsoleDeliveryController(Controller):
    path = "/console/deliveries"
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def deliveries(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        buyer: Filter = None,
        campaign: Filter = None,
        status: Filter = None,
        since: Filter = None,
        until: Filter = None,
        cursor: Filter = None,
    ) -> Response[str]:
        viewer.require("operator")
        only = audit_filter(buyer, campaign, status, since, until)
        found = await delivery_page_for(services, only, limit=AUDIT_ROWS, cursor=cursor or None)
        shown = {"buyer": buyer or "", "campaign": campaign or "", "status": status or ""}
        shown |= {"since": since or "", "until": until or ""}
        return await page(
            request,
            services,
            "deliveries.html",
            viewer,
            title="Deliveries",
            deliveries=found.items,
            next_cursor=found.next_cursor,
            shown=shown,
            statuses=STATUSES,
            resendable=RESENDABLE,
        )

    @post("/{delivery_id:str}/resend", include_in_schema=False, status_code=303)
    async def resend(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        delivery_id: DeliveryId,
    ) -> Redirect:
        """Send a failed post again, as `POST /v1/deliveries/{id}/resend` does."""
        viewer.require("operator")
        await resend_for(services, viewer, delivery_id)
        back = request.headers.get("referer") or ""
        return Redirect(back if "/console/deliveries" in back else "/console/deliveries", status_code=303)
