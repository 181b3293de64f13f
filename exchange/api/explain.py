"""Why a lead is not sold: `GET /v1/leads/{id}/explain`, a dry run of the lead against every
campaign of its vertical now, beside what its timeline said when it was distributed.

Staff see every campaign; a buyer its own campaigns only, and only of a lead that reached it;
a publisher, of its own lead, the reasons counted, with no buyer, campaign, price or bid.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from litestar import Controller, get
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from exchange.api.auth import Principal, PrincipalDep, roles
from exchange.api.params import LeadId
from exchange.api.services import Services, ServicesDep
from exchange.distribution.at_sale import AtSale, ReasonCount, at_sale, count_reasons
from exchange.distribution.calls import ping_fields
from exchange.distribution.explain import StoredLead, Verdict, dry_run
from exchange.errors import NotFound
from exchange.storage import tables as t


class DryRun(msgspec.Struct, kw_only=True, omit_defaults=True):
    evaluated_at: Annotated[
        datetime,
        msgspec.Meta(
            description="The moment the campaigns were judged at (UTC).", examples=["2025-03-14T21:40:00Z"]
        ),
    ]
    verdicts: Annotated[
        list[Verdict] | None,
        msgspec.Meta(description="Each campaign's verdict now (not shown to publishers)."),
    ] = None
    reasons: Annotated[
        list[ReasonCount], msgspec.Meta(description="The verdicts' outcomes counted, without names.")
    ]


class Explanation(msgspec.Struct, kw_only=True, omit_defaults=True):
    lead_id: Annotated[
        str, msgspec.Meta(description="The lead explained.", examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"])
    ]
    vertical: Annotated[str, msgspec.Meta(description="Its vertical.", examples=["auto_insurance"])]
    status: Annotated[
        str, msgspec.Meta(description="Its status as stored: `unsold`, `sold`…", examples=["unsold"])
    ]
    dry_run: Annotated[
        DryRun,
        msgspec.Meta(
            description=(
                "The truth now: what each campaign would decide if the lead were offered at "
                "`evaluated_at`. Nothing was held, pinged, posted, charged or written to find out."
            )
        ),
    ]
    at_sale: Annotated[
        AtSale | None,
        msgspec.Meta(
            description=(
                "The truth then: what the lead's timeline recorded when it was last distributed; "
                "absent if it never was (rejected, duplicate, still queued)."
            )
        ),
    ] = None


_l, _e, _s, _c = t.leads.c, t.lead_events.c, t.sales.c, t.campaigns.c
# Events by which a campaign's buyer heard of the lead: a ping, a post, a sale.
_HEARD = ("pinged", "posting", "posted", "sold")


async def _reached(conn: AsyncConnection, lead_id: str, buyer_id: str) -> tuple[bool, bool]:
    """Whether the buyer bought the lead, and whether it heard of it at all."""
    bought = await conn.scalar(select(_s.id).where(_s.lead_id == lead_id, _s.buyer_id == buyer_id).limit(1))
    if bought is not None:
        return True, True
    own = set(await conn.scalars(select(_c.id).where(_c.buyer_id == buyer_id)))
    events = await conn.execute(select(_e.data).where(_e.lead_id == lead_id, _e.kind.in_(_HEARD)))
    return False, any(row.data.get("campaign_id") in own for row in events)


def _for_publisher(past: AtSale | None) -> AtSale | None:
    return (
        None if past is None else AtSale(at=past.at, unsold_reason=past.unsold_reason, reasons=past.reasons)
    )


def _for_buyer(past: AtSale | None, own: set[str]) -> AtSale | None:
    if past is None:
        return None
    mine = [p for p in past.campaigns or [] if p.campaign_id in own]
    reasons = count_reasons((p.outcome, p.field) for p in mine)
    return AtSale(at=past.at, unsold_reason=past.unsold_reason, campaigns=mine, reasons=reasons)


class ExplainController(Controller):
    path = "/v1/leads"
    tags = ["leads"]

    @get(
        "/{lead_id:str}/explain",
        summary="Why a lead is or is not sold: a dry run against every campaign, and the sale as recorded",
        opt=roles("operator", "finance", "publisher", "buyer"),
    )
    async def explain_lead(
        self, lead_id: LeadId, principal: PrincipalDep, services: ServicesDep
    ) -> Explanation:
        return await explanation_for(services, principal, lead_id)


async def explanation_for(services: Services, principal: Principal, lead_id: str) -> Explanation:
    """Why the lead is or is not sold, as this caller may see it (404 when it may not)."""
    now = services.clock()
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(
                select(_l.id, _l.vertical, _l.status, _l.grade, _l.fields, _l.publisher_id, _l.sub_id).where(
                    _l.id == lead_id
                )
            )
        ).first()
        bought = principal.is_staff
        if row is not None and principal.role == "buyer":
            bought, heard = await _reached(conn, lead_id, str(principal.buyer_id))
            row = row if heard else None
        if row is None or (principal.role == "publisher" and row.publisher_id != principal.publisher_id):
            raise NotFound(f"no lead {lead_id}")
        lead = StoredLead(
            id=row.id,
            vertical=row.vertical,
            status=row.status,
            grade=row.grade,
            # A buyer that has not bought the lead is judged on what a ping shows it, no more.
            fields=row.fields
            if bought or principal.role == "publisher"
            else ping_fields(row.fields, row.grade, row.id),
            publisher_id=row.publisher_id,
            sub_id=row.sub_id,
        )
    vertical = await services.verticals.get(row.vertical)
    floors = vertical.distribution.floor_cents_by_grade if vertical is not None else {}
    loaded = await services.jobs.catalog.active(row.vertical)
    buyer_id = principal.buyer_id if principal.role == "buyer" else None
    async with services.engine.connect() as conn:
        verdicts = await dry_run(conn, lead, loaded=loaded, floors=floors, now=now, buyer_id=buyer_id)
        past = await at_sale(conn, lead_id)
    return _explanation(principal, row.id, row.vertical, row.status, now, verdicts, past)


def _explanation(
    principal: Principal,
    lead_id: str,
    vertical: str,
    status: str,
    now: datetime,
    verdicts: list[Verdict],
    past: AtSale | None,
) -> Explanation:
    """The answer as the caller may see it."""
    reasons = count_reasons((v.outcome, v.rule.field if v.outcome == "filtered" else None) for v in verdicts)
    shown: list[Verdict] | None = verdicts
    if principal.role == "publisher":
        shown, past = None, _for_publisher(past)
    elif principal.role == "buyer":
        past = _for_buyer(past, {v.campaign_id for v in verdicts})
    elif past is not None:
        owners = {v.campaign_id: v.buyer_id for v in verdicts}
        for p in past.campaigns or []:
            p.buyer_id = p.buyer_id or owners.get(p.campaign_id)
    return Explanation(
        lead_id=lead_id,
        vertical=vertical,
        status=status,
        dry_run=DryRun(evaluated_at=now, verdicts=shown, reasons=reasons),
        at_sale=past,
    )
