"""The SMTP inbox: publishers' lead providers e-mail leads to `INBOX@any.domain` or
`INBOX+VERTICAL@any.domain` (`exchange serve` listens when EXCHANGE_SMTP_PORT is set).

It runs on the server's own event loop (aiosmtpd's protocol under `loop.create_server`).
An unknown inbox is refused at RCPT (550), before any data is sent. SIZE is announced and
enforced (552). A message gets its 250 only once its leads are durably stored: a crash
before that leaves the sender retrying, and the retry makes no second lead (each lead's key
is the Message-ID and its place in the message). A message with no lead in it is refused
(554) with the reason; a failure of ours is a 451, which senders retry.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from exchange.errors import Invalid
from exchange.pipeline.intake import Source
from exchange.pipeline.messages import receive_message, vertical_of_address
from exchange.storage import tables as t

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 25 * 1024 * 1024


class InboxHandler:
    """aiosmtpd's handler: RCPT checks the inbox, DATA stores the leads."""

    def __init__(self, services: Any) -> None:
        self.services = services

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        inbox = address.rsplit("@", 1)[0].split("+", 1)[0].strip().lower()
        source = await self._source(inbox)
        if source is None:
            return "550 5.1.1 no such inbox"
        vertical = vertical_of_address(address)
        if vertical is not None and await self.services.verticals.get(vertical) is None:
            return f"550 5.1.1 no vertical {vertical[:48]}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.append(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        if not isinstance(raw, bytes):
            raw = str(raw).encode("utf-8", "surrogateescape")
        stored = 0
        try:
            for address in envelope.rcpt_tos:
                source = await self._source(address.rsplit("@", 1)[0].split("+", 1)[0].strip().lower())
                if source is None:  # the publisher went away between RCPT and DATA
                    return "451 4.3.0 the inbox changed; try again"
                outcome = await receive_message(
                    self.services,
                    source,
                    raw,
                    vertical=vertical_of_address(address),
                    channel="smtp",
                    sender=envelope.mail_from,
                )
                stored += sum(1 for lead in outcome.leads if lead.lead_id is not None)
        except Invalid as exc:
            return f"554 5.6.0 {exc.message[:200]}"
        except Exception:
            log.exception("SMTP inbox: a message could not be stored")
            return "451 4.3.0 not stored; try again later"
        return f"250 2.0.0 {stored} lead(s) stored"

    async def _source(self, inbox: str) -> Source | None:
        p = t.publishers.c
        async with self.services.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(p.id, p.default_vertical, p.field_mapping, p.payout).where(p.inbox == inbox)
                )
            ).first()
        if row is None:
            return None
        return Source(
            publisher_id=row.id,
            default_vertical=row.default_vertical,
            field_mapping=row.field_mapping or {},
            payout=row.payout,
        )


async def start_smtp(services: Any, host: str, port: int) -> asyncio.Server:
    """Listen for leads by e-mail on the running loop."""
    loop = asyncio.get_running_loop()
    handler = InboxHandler(services)
    return await loop.create_server(
        lambda: SMTP(
            handler,
            data_size_limit=MAX_MESSAGE_BYTES,
            enable_SMTPUTF8=True,
            hostname="lead-exchange",
            timeout=60,
        ),
        host=host,
        port=port,
    )
