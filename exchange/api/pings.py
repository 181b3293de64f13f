"""Publisher ping-post over the API: `POST /v1/pings`, then `POST /v1/posts`."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.params import JSONBody, QueryParameter

from adapters.inbound import parse_lead_body
from exchange.api.auth import PrincipalDep, roles
from exchange.api.leads import IntakeOperation, source_of, status_code
from exchange.api.services import ServicesDep
from exchange.distribution import pings
from exchange.distribution.pings import PingAnswer
from exchange.errors import field_invalid
from exchange.types import LeadAnswer


class PostIn(msgspec.Struct, frozen=True, kw_only=True):
    ping_id: Annotated[
        str,
        msgspec.Meta(
            description="The ping this lead follows: its bid is what the lead is sold at.",
            examples=["png_01jp9zpmb0tnj63jejb8xw5bqs"],
        ),
    ]
    lead: Annotated[
        dict[str, Any],
        msgspec.Meta(
            description=(
                "The whole lead, contact fields included, in the same fields as a JSON lead; "
                "the fields the ping carried must agree."
            ),
            examples=[
                {
                    "first_name": "Ana",
                    "last_name": "Ruiz",
                    "email": "ana.ruiz@mail.example",
                    "phone": "+14155550123",
                    "state": "CA",
                    "zip": "94107",
                    "vehicle_year": 2019,
                }
            ],
        ),
    ]


class PingController(Controller):
    tags = ["leads"]

    @post(
        "/v1/pings",
        summary="Ask what a lead would earn, without its contact details (publisher); the bid is held",
        status_code=200,
        opt=roles("publisher"),
        operation_class=IntakeOperation,
    )
    async def create_ping(
        self,
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        vertical: Annotated[
            str | None,
            QueryParameter(
                description="The vertical of the lead offered; omitted: the publisher's default vertical."
            ),
        ] = None,
    ) -> PingAnswer:
        parsed = parse_lead_body(await request.body(), request.headers.get("content-type"))
        return await pings.ping(services, source_of(principal), dict(parsed.fields), vertical)

    @post(
        "/v1/posts",
        summary="Post the lead of a ping that bid: sold at the ping's price (publisher)",
        opt=roles("publisher"),
    )
    async def create_post(
        self, data: JSONBody[PostIn], principal: PrincipalDep, services: ServicesDep
    ) -> Response[LeadAnswer]:
        if not data.lead:
            raise field_invalid("lead", "required", "the whole lead, contact details included")
        received = await pings.post(services, source_of(principal), data.ping_id, data.lead)
        return Response(received.answer, status_code=status_code(received))
