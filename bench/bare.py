"""The baseline: a bare Litestar `POST /v1/leads` that only decodes the lead and answers.

No database, no auth, no checks beyond msgspec's types: the floor any intake costs.
Run it with `python -m uvicorn bench.bare:app`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post

from exchange.ids import new_id
from exchange.types import FieldError, LeadAnswer


class BareConsent(msgspec.Struct, frozen=True, kw_only=True):
    text: str | None = None
    timestamp: datetime | None = None
    trustedform_cert_url: str | None = None
    jornaya_leadid: str | None = None


class BareLead(msgspec.Struct, frozen=True, kw_only=True):
    """The benchmark lead's fields with their types; required as auto_insurance requires them."""

    first_name: str
    last_name: str
    email: str
    phone: str
    zip: str
    date_of_birth: date
    currently_insured: bool
    vehicle_year: int
    vehicle_make: str
    vehicle_model: str
    address: str | None = None
    city: str | None = None
    state: str | None = None
    ip_address: str | None = None
    consent: BareConsent | None = None


_decoder = msgspec.json.Decoder(BareLead)


@post("/v1/leads", status_code=201)
async def post_lead(request: Request[Any, Any, Any]) -> Response[LeadAnswer]:
    # Decoding the raw body ourselves skips Litestar's signature model: the cheapest honest floor.
    try:
        _decoder.decode(await request.body())
    except msgspec.DecodeError as problem:
        error = FieldError(field="body", code="invalid_value", message=str(problem))
        return Response(LeadAnswer(lead_id=None, status="rejected", errors=[error]), status_code=422)
    answer = LeadAnswer(lead_id=new_id("lead"), status="accepted", grade="B")
    return Response(answer, status_code=201, media_type=MediaType.JSON)


@get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


app = Litestar(route_handlers=[post_lead, healthz])
