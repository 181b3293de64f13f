"""Posts delivered in batched files: queued with their sale, sent by jobs/file_batches.py.

An adapter batches a campaign's posts when its request says so (`options["batch"]`, e.g. the
`ftp` adapter's `{"max_leads", "every_minutes"}`). The post is then accepted once it is in the
campaign's queue: the row is written in the sale's own transaction, so a lead sold is a lead
queued, and a lead queued belongs to exactly one file once a batch takes it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.outbound.protocol import Request
from buyers.responses import BuyerAnswer
from exchange.distribution.calls import Call, record
from exchange.distribution.records import Hold
from exchange.storage import tables as t

_INSERT_ITEM = t.file_batch_items.insert()


def is_batched(request: Request) -> bool:
    return bool(request.options.get("batch"))


def batch_options(request: Request) -> dict[str, Any]:
    return dict(request.options.get("batch") or {})


def queued(request: Request, delivery_id: str | None) -> Call:
    """The audit of a post that went into its campaign's file queue."""
    return Call(
        status="accepted",
        answer=BuyerAnswer(accepted=True),
        request=request.audit(delivery_id),
        response={"body": "", "content_type": None, "error": None, "queued": "file batch"},
        http_status=None,
        latency_ms=0.0,
        is_transient=False,
    )


async def enqueue(conn: AsyncConnection, hold: Hold, request: Request, now: datetime) -> None:
    await conn.execute(
        _INSERT_ITEM,
        {
            "id": hold.id,
            "campaign_id": hold.campaign_id,
            "lead_id": hold.lead_id,
            "request": record(request),
            "batch_id": None,
            "created_at": now,
        },
    )
