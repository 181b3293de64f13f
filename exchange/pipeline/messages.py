"""E-mailed leads: one message (over SMTP, or posted raw) becomes its leads, each through the
same intake as `POST /v1/leads`.

The parser (adapters/inbound/email.py) finds the leads a message holds: ADF in the body or
an attachment, `Key: Value` lines, an HTML table, a CSV attachment. Each lead's vertical is the
one the address names (`INBOX+VERTICAL@…`), else `auto_sales` for ADF, else the publisher's
`default_vertical`; with none, that lead is refused with the reason. Each lead carries a key
made of the message's Message-ID and its place in the message, so a message delivered twice
(a sender that never saw our 250 and sent again) makes no second lead.
"""

from __future__ import annotations

import asyncio
import hashlib
from email.parser import BytesHeaderParser
from email.policy import default
from email.utils import getaddresses
from typing import Annotated, Any

import msgspec

from adapters.inbound.email import parse_message
from exchange.errors import Invalid, field_invalid
from exchange.pipeline.intake import Posted, Source, receive_fields
from exchange.types import FieldError

ADF_VERTICAL = "auto_sales"


class MessageLeadOutcome(msgspec.Struct, frozen=True, kw_only=True):
    lead_id: Annotated[
        str | None,
        msgspec.Meta(
            description="The lead it became; null when nothing was stored.",
            examples=["lead_01jp9zmpt80m37k7v3dka7xqbj"],
        ),
    ]
    status: Annotated[
        str,
        msgspec.Meta(
            description="The lead answer: `sold`, `unsold`, `accepted`, `duplicate` or `rejected`.",
            examples=["accepted"],
        ),
    ]
    errors: Annotated[
        list[FieldError],
        msgspec.Meta(description="Why it was rejected, one entry per field; empty otherwise.", examples=[[]]),
    ]


class MessageOutcome(msgspec.Struct, frozen=True, kw_only=True):
    message_id: Annotated[
        str,
        msgspec.Meta(
            description=(
                "The message's Message-ID, or `sha256:` and a digest of it when it has none: "
                "the same message sent again is the same leads."
            ),
            examples=["<20250314092653.4471@crm.dealer.example>"],
        ),
    ]
    leads: Annotated[
        list[MessageLeadOutcome],
        msgspec.Meta(
            description=(
                "Each lead found in the message (its ADF document, `Key: Value` lines or CSV rows), in order."
            ),
        ),
    ]


def vertical_of_address(address: str) -> str | None:
    """`INBOX+VERTICAL@domain` → VERTICAL; None without a `+`."""
    local = address.rsplit("@", 1)[0]
    if "+" not in local:
        return None
    return local.split("+", 1)[1].strip().lower() or None


def addressed_vertical(raw: bytes) -> str | None:
    """The vertical a message's recipient names (`To`, else `Delivered-To`), if any."""
    headers = BytesHeaderParser(policy=default).parsebytes(raw[:65536])
    for name in ("To", "Delivered-To"):
        for _, address in getaddresses([str(value) for value in headers.get_all(name, [])]):
            found = vertical_of_address(address)
            if found:
                return found
    return None


async def receive_message(
    services: Any,
    source: Source,
    raw: bytes,
    *,
    vertical: str | None,
    channel: str,
    sender: str | None = None,
) -> MessageOutcome:
    """Store the message's leads durably (each distributed as an async post is) and answer
    one outcome per lead; a message with no lead at all is a 422 naming why."""
    parsed = parse_message(raw)
    message_id = parsed.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()[:40]
    if not parsed.leads:
        reason = "; ".join(parsed.errors) or "no lead found in the message"
        raise field_invalid("message", "no_leads", reason)

    async def one(index: int, lead: Any) -> MessageLeadOutcome:
        if lead.error is not None:
            return MessageLeadOutcome(
                lead_id=None,
                status="rejected",
                errors=[FieldError(field=lead.source, code="unreadable", message=lead.error)],
            )
        chosen = vertical or (ADF_VERTICAL if lead.kind == "adf" else source.default_vertical)
        if chosen is None:
            message = "no vertical: send to INBOX+VERTICAL@… or set the publisher's default_vertical"
            return MessageLeadOutcome(
                lead_id=None,
                status="rejected",
                errors=[FieldError(field="vertical", code="required", message=message)],
            )
        posted = Posted(
            body=b"",
            content_type="message/rfc822",
            vertical=chosen,
            mode="async",
            idempotency_key=f"email:{message_id}:{index}"[:255],
            origin={
                "channel": channel,
                "message_id": message_id,
                "sender": sender or parsed.sender,
                "part": lead.source,
            },
        )
        try:
            received = await receive_fields(services, source, posted, dict(lead.fields))
        except Invalid as exc:
            return MessageLeadOutcome(lead_id=None, status="rejected", errors=list(exc.errors or []))
        answer = received.answer
        return MessageLeadOutcome(lead_id=answer.lead_id, status=answer.status, errors=list(answer.errors))

    leads = await asyncio.gather(*(one(i, lead) for i, lead in enumerate(parsed.leads)))
    return MessageOutcome(message_id=message_id, leads=list(leads))
