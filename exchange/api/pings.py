"""Publisher ping-post over the API: `POST /v1/pings`, then `POST /v1/posts`."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.params import FromQuery, JSONBody

from adapters.inbound import parse_lead_body
from exchange.api.auth import PrincipalDep
from exchange.api.leads import source_of, status_code
from exchange.api.services import ServicesDep
from exchange.distribution import pings
from exchange.distribution.pings import PingAnswer
from exchange.errors import field_invalid
from exchange.types import LeadAnswer


class PostIn(msgspec.Struct, frozen=True, kw_only=True):
    ping_id: str
    lead: dict[str, Any]


class PingController(Controller):
    tags = ["leads"]

    @post(
        "/v1/pings",
        summary="Ask what a lead would earn, without its contact details (publisher); the bid is held",
        status_code=200,
    )
    async def create_ping(
        self,
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        vertical: FromQuery[str | None] = None,
    ) -> PingAnswer:
        principal.require("publisher")
        parsed = parse_lead_body(await request.body(), request.headers.get("content-type"))
        return await pings.ping(services, source_of(principal), dict(parsed.fields), vertical)

    @post("/v1/posts", summary="Post the lead of a ping that bid: sold at the ping's price (publisher)")
    async def create_post(
        self, data: JSONBody[PostIn], principal: PrincipalDep, services: ServicesDep
    ) -> Response[LeadAnswer]:
        principal.require("publisher")
        if not data.lead:
            raise field_invalid("lead", "required", "the whole lead, contact details included")
        received = await pings.post(services, source_of(principal), data.ping_id, data.lead)
        return Response(received.answer, status_code=status_code(received))
