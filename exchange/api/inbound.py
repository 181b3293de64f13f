"""E-mailed leads posted raw: `POST /v1/inbound/email` with a `message/rfc822` body."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, post
from litestar.params import QueryParameter

from exchange.api.auth import PrincipalDep, roles
from exchange.api.docs import raw_body, text
from exchange.api.leads import source_of
from exchange.api.services import ServicesDep
from exchange.errors import field_invalid
from exchange.pipeline.messages import MessageOutcome, addressed_vertical, receive_message

# A message with attachments is larger than a lead: the parser bounds what it decodes.
MAX_MESSAGE_BYTES = 25 * 1024 * 1024


class InboundController(Controller):
    path = "/v1/inbound"
    tags = ["leads"]

    @post(
        "/email",
        summary="A raw e-mail of leads (publisher): the same as one sent to the SMTP inbox",
        status_code=202,
        request_max_body_size=MAX_MESSAGE_BYTES,
        opt=roles("publisher"),
        operation_class=raw_body({"message/rfc822": text("the whole message, headers and body")}),
    )
    async def inbound_email(
        self,
        request: Request[Any, Any, Any],
        principal: PrincipalDep,
        services: ServicesDep,
        vertical: Annotated[
            str | None,
            QueryParameter(
                description=(
                    "The vertical of the message's leads when its address does not name one "
                    "(`INBOX+VERTICAL@`); omitted: `auto_sales` for ADF, else the publisher's default "
                    "vertical."
                )
            ),
        ] = None,
    ) -> MessageOutcome:
        raw = await request.body()
        if not raw.strip():
            raise field_invalid("body", "empty", "send the whole message, headers and body (message/rfc822)")
        chosen = vertical or addressed_vertical(raw)
        if chosen is not None and await services.verticals.get(chosen) is None:
            raise field_invalid("vertical", "unknown_vertical", f"no vertical {chosen!r}")
        return await receive_message(
            services, source_of(principal), raw, vertical=chosen, channel="email_api"
        )
