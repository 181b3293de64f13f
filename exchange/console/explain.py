"""Why not sold, in the console: the dry run campaign by campaign with its rule in words, beside
what the lead's timeline recorded when it was distributed. Read through the API's own function
(exchange/api/explain.py), so each role sees what `GET /v1/leads/{id}/explain` shows it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.di import Provide

from exchange.api.explain import explanation_for
from exchange.api.params import LeadId
from exchange.api.services import ServicesDep
from exchange.console.render import ViewerDep, _cents, page, provide_viewer
from exchange.distribution.explain import Verdict


def _limit(used: int | None, limit: int | None, money: bool) -> str | None:
    if limit is None:
        return None
    if money:
        return f"{_cents(used or 0)} of {_cents(limit)} spent"
    return f"{used or 0} of {limit} leads"


def rule_in_words(verdict: Verdict) -> str:
    """The rule that decided, as a sentence: "day cap full: 5 of 5 leads"."""
    rule = verdict.rule
    match verdict.outcome:
        case "cap_full":
            parts = [_limit(rule.used_leads, rule.max_leads, False)]
            parts.append(_limit(rule.used_spend_cents, rule.max_spend_cents, True))
            return f"{rule.period} cap full: {', '.join(p for p in parts if p)}"
        case "filtered":
            return f"filter on {rule.field}: {rule.op} {rule.value!r} does not match the lead"
        case "closed":
            hours = ", ".join(rule.hours or []) or "closed all day"
            opens = f"; opens {rule.next_open:%Y-%m-%d %H:%M} UTC" if rule.next_open else ""
            return f"schedule closed: {rule.day} {rule.local_time} in {rule.timezone} ({hours}){opens}"
        case "no_funds":
            return f"not enough funds: needs {_cents(rule.needed_cents)}, has {_cents(rule.available_cents)}"
        case "below_floor":
            return (
                f"price {_cents(rule.price_cents)} is below the floor {_cents(rule.floor_cents)} "
                f"for grade {rule.grade}"
            )
        case "not_priced":
            return f"no price for grade {rule.grade}"
        case "unavailable":
            return f"delivery unavailable: {rule.detail}"
        case "eligible":
            pinged = " (its price needs a ping)" if verdict.needs_ping else ""
            return f"would be offered the lead now{pinged}"
        case _:
            return verdict.reason


class ConsoleExplainController(Controller):
    path = "/console/leads"
    dependencies = {"viewer": Provide(provide_viewer)}

    @get("/{lead_id:str}/explain", include_in_schema=False)
    async def explain(
        self, request: Request[Any, Any, Any], services: ServicesDep, viewer: ViewerDep, lead_id: LeadId
    ) -> Response[str]:
        """The dry run and the sale as recorded, as the API shows them to this account (404 if not its)."""
        explained = await explanation_for(services, viewer, lead_id)
        return await page(
            request,
            services,
            "explain.html",
            viewer,
            title=f"Why lead {lead_id} is {explained.status}",
            explained=explained,
            rule_in_words=rule_in_words,
        )
