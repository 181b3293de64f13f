"""Holds in the console: what buyers hold of leads (operators and finance read them), and the
operators' decision on an uncertain one, the post whose answer never came: the buyer says
whether it took the lead, and the operator records it as a sale at the held price or releases it.

The list and the decision are the API's own (GET /v1/holds, POST /v1/holds/{id}/decision): the
same states, the same audit row.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter, QueryParameter
from litestar.response import Redirect

from exchange.api.holds import decide_hold_for
from exchange.api.params import HoldId
from exchange.api.services import ServicesDep
from exchange.console.fields import form_of, text
from exchange.console.render import ViewerDep, page, provide_viewer
from exchange.distribution import uncertain
from exchange.distribution.records import HoldState
from exchange.errors import field_invalid

LIST = "/console/holds"
ROWS = 100
STATES: tuple[str, ...] = get_args(HoldState)
Filter = Annotated[str | None, Parameter(description="Only holds with this value ('' for any).")]


class ConsoleHoldController(Controller):
    path = LIST
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/", include_in_schema=False)
    async def holds(
        self,
        request: Request[Any, Any, Any],
        services: ServicesDep,
        viewer: ViewerDep,
        # `state` is a name Litestar keeps for the app's state: the parameter is named apart.
        hold_state: Annotated[
            str | None, QueryParameter(name="state", description="Only holds in this state ('' for any).")
        ] = "uncertain",
        buyer: Filter = None,
        lead: Filter = None,
        cursor: Filter = None,
    ) -> Response[str]:
        """Holds newest first; by default the uncertain ones, each awaiting an operator's decision."""
        viewer.require("operator", "finance")
        state = hold_state
        if state and state not in STATES:
            raise field_invalid("state", "invalid_choice", f"state must be one of: {', '.join(STATES)}")
        items, next_cursor = await uncertain.list_holds(
            services.engine,
            state=state or None,
            lead_id=lead or None,
            buyer_id=buyer or None,
            limit=ROWS,
            cursor=cursor or None,
        )
        shown = {"state": state or "", "buyer": buyer or "", "lead": lead or ""}
        older = None
        if next_cursor:
            older = f"{LIST}?" + urlencode({**{k: v for k, v in shown.items()}, "cursor": next_cursor})
        return await page(
            request,
            services,
            "holds.html",
            viewer,
            title="Holds",
            holds=items,
            shown=shown,
            states=STATES,
            older=older,
            back=f"{LIST}?{urlencode(shown)}",
        )

    @post("/{hold_id:str}/decision", include_in_schema=False, status_code=303)
    async def decide(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, hold_id: HoldId
    ) -> Redirect:
        """Record what the buyer says became of the post: sold at the held price, or released."""
        viewer.require("operator")
        form = await form_of(request)
        outcome = text(form, "outcome")
        if outcome not in ("sold", "released"):
            raise field_invalid("outcome", "invalid_choice", "outcome must be one of: sold, released")
        note = text(form, "note") or None
        if note is not None and len(note) > 2000:
            raise field_invalid("note", "too_long", "a note is at most 2000 characters")
        await decide_hold_for(services, viewer, hold_id, sold=outcome == "sold", note=note)
        back = text(form, "back")
        return Redirect(back if back.startswith(f"{LIST}?") else LIST, status_code=303)
