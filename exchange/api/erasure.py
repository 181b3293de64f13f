"""Erasure of a person's data from a lead (operator): the money trail and the fact of
consent stay; name, contact, address and IP become "[erased]" everywhere they were kept
(the lead, its events, the delivery audit, and the request of a post still open)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Controller, delete
from sqlalchemy import select, update

from exchange.api.auth import PrincipalDep, roles
from exchange.api.params import LeadId
from exchange.api.services import ServicesDep
from exchange.audit import record_change
from exchange.errors import NotFound
from exchange.storage import tables as t
from exchange.types import PERSONAL_FIELDS

ERASED = "[erased]"
# Beyond contact data: what else in a lead points at the person.
ERASED_FIELDS = PERSONAL_FIELDS | {"user_agent"}


class Erased(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: Annotated[
        str,
        msgspec.Meta(
            description="The lead whose person's data was erased.",
            examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"],
        ),
    ]
    erased_at: Annotated[
        datetime,
        msgspec.Meta(
            description='When (UTC); the lead\'s consent then reads `{"given": true, "erased_at": …}`.',
            examples=["2025-03-15T16:02:11Z"],
        ),
    ]
    fields: Annotated[
        list[str],
        msgspec.Meta(
            description="The lead's fields that held personal data and now read `[erased]`.",
            examples=[["first_name", "last_name", "email", "phone", "address", "ip_address", "user_agent"]],
        ),
    ]
    deliveries: Annotated[
        int, msgspec.Meta(description="How many delivery audit rows were scrubbed of it.", examples=[2])
    ]


def _scrub(value: Any, personal: list[str]) -> Any:
    """`value` with every personal string replaced, inside strings, lists and dicts alike."""
    if isinstance(value, str):
        for text in personal:
            value = value.replace(text, ERASED)
        return value
    if isinstance(value, dict):
        return {k: _scrub(v, personal) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, personal) for v in value]
    return value


class ErasureController(Controller):
    path = "/v1/leads/{lead_id:str}/personal-data"
    tags = ["leads"]

    @delete(
        "/",
        status_code=200,
        summary="Erase a person's data from a lead, its events and the delivery audit",
        opt=roles("operator"),
    )
    async def erase(self, lead_id: LeadId, principal: PrincipalDep, services: ServicesDep) -> Erased:
        now = services.clock()
        lc, d = t.leads.c, t.deliveries.c
        async with services.engine.begin() as conn:
            lead = (
                await conn.execute(select(lc.fields, lc.consent, lc.extra).where(lc.id == lead_id))
            ).first()
            if lead is None:
                raise NotFound(f"no lead {lead_id}")
            fields = dict(lead.fields)
            present = sorted(k for k in ERASED_FIELDS if fields.get(k) not in (None, "", ERASED))
            # Longest first, so "Ada Lovelace" goes before "Ada" can split it.
            values = sorted(
                {str(fields[k]) for k in present if len(str(fields[k])) >= 2}, key=len, reverse=True
            )
            for key in present:
                fields[key] = ERASED
            consent = {"given": bool(lead.consent), "erased_at": now.isoformat()}
            await conn.execute(
                update(t.leads)
                .where(lc.id == lead_id)
                .values(fields=fields, consent=consent, extra={}, updated_at=now)
            )
            rows = (await conn.execute(select(d.id, d.request, d.response).where(d.lead_id == lead_id))).all()
            for row in rows:
                await conn.execute(
                    update(t.deliveries)
                    .where(d.id == row.id)
                    .values(
                        request=_scrub(row.request, values),
                        response=_scrub(row.response, values),
                    )
                )
            # A post whose outcome is still open keeps its exact request on the hold.
            h = t.holds.c
            open_posts = select(h.id, h.request).where(h.lead_id == lead_id, h.request.is_not(None))
            for hold in (await conn.execute(open_posts)).all():
                await conn.execute(
                    update(t.holds).where(h.id == hold.id).values(request=_scrub(hold.request, values))
                )
            # A lead waiting for (or sent in) a batched file keeps its row of the file.
            i = t.file_batch_items.c
            for item in (await conn.execute(select(i.id, i.request).where(i.lead_id == lead_id))).all():
                await conn.execute(
                    update(t.file_batch_items)
                    .where(i.id == item.id)
                    .values(request=_scrub(item.request, values))
                )
            e = t.lead_events.c
            for event in (await conn.execute(select(e.id, e.data).where(e.lead_id == lead_id))).all():
                scrubbed = _scrub(event.data, values)
                if scrubbed != event.data:
                    await conn.execute(update(t.lead_events).where(e.id == event.id).values(data=scrubbed))
            await conn.execute(
                t.lead_events.insert().values(
                    lead_id=lead_id, kind="personal_data_erased", at=now, data={"fields": present}
                )
            )
            # The names of the fields erased, never their values.
            await record_change(
                conn,
                principal,
                action="lead.erase_personal_data",
                entity_type="lead",
                entity_id=lead_id,
                after={"fields": present, "deliveries": len(rows)},
                at=now,
            )
        return Erased(lead_id=lead_id, erased_at=now, fields=present, deliveries=len(rows))
