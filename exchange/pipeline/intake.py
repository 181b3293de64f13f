"""Intake: one posted body becomes one stored lead and its answer.

parse (adapters.inbound) → map the publisher's names → validate → grade → prepare
rows → the group-commit writer (dedupe and idempotency decided there, in order)
→ in sync mode, distribute before answering.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from functools import partial
from typing import Any, Literal

import msgspec

from adapters.inbound import parse_lead_body
from exchange.distribution.engine import Ahead, LeadForSale, distribute, unsold_events, unwanted_by_all
from exchange.errors import field_invalid
from exchange.ids import new_id
from exchange.pipeline.grade import grade_lead
from exchange.pipeline.normalize import apply_mapping
from exchange.pipeline.validate import validate_lead
from exchange.storage.writer import LeadWrite, WriteResult, claim_key
from exchange.types import LeadAnswer

log = logging.getLogger(__name__)

Mode = Literal["sync", "async"]
_fingerprint_encoder = msgspec.json.Encoder(order="sorted")


class Source(msgspec.Struct, frozen=True, kw_only=True):
    """Who posted the lead, and their terms that shape intake."""

    publisher_id: str
    default_vertical: str | None = None
    field_mapping: dict[str, str] = msgspec.field(default_factory=dict)
    # The publisher's payout terms, known with the key: a sync sale can start before the
    # lead is read back from the database.
    payout: dict[str, Any] | None = None


class Posted(msgspec.Struct, frozen=True, kw_only=True):
    body: bytes
    content_type: str | None
    vertical: str | None = None
    mode: Mode = "sync"
    idempotency_key: str | None = None


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def receive_lead(services: Any, source: Source, posted: Posted) -> WriteResult:
    """Store the posted lead durably and answer it (services: exchange.api.services.Services)."""
    parsed = parse_lead_body(posted.body, posted.content_type)
    raw = apply_mapping(parsed.fields, source.field_mapping) if source.field_mapping else parsed.fields
    vertical_key = posted.vertical or parsed.vertical_hint or source.default_vertical
    if not vertical_key:
        raise field_invalid("vertical", "required", "name the vertical: ?vertical=auto_insurance")
    vertical = await services.verticals.get(vertical_key)
    if vertical is None:
        raise field_invalid("vertical", "unknown_vertical", f"no vertical {vertical_key!r}")

    idempotency = None
    if posted.idempotency_key is not None:
        key = posted.idempotency_key.strip()
        if not 1 <= len(key) <= 255:
            raise field_invalid("Idempotency-Key", "invalid_value", "must be 1-255 characters")
        idempotency = "idempotency_key:" + key
    elif isinstance(raw.get("external_id"), str | int) and str(raw["external_id"]).strip():
        idempotency = "external_id:" + str(raw["external_id"]).strip()[:255]

    now = services.clock()
    lead_id = new_id("lead")
    checked = validate_lead(raw, vertical, now=now)
    events: list[dict[str, Any]] = [
        {
            "lead_id": lead_id,
            "kind": "received",
            "at": now,
            "data": {
                "content_type": posted.content_type,
                "bytes": len(posted.body),
                "mode": posted.mode,
                "idempotency": idempotency,
                "extra_fields": sorted(checked.lead.extra) if checked.lead else [],
            },
        }
    ]
    row: dict[str, Any] = {
        "id": lead_id,
        "vertical": vertical.key,
        "publisher_id": source.publisher_id,
        "received_at": now,
        "updated_at": now,
        "payout_cents": 0,
    }
    write = LeadWrite(
        lead=row,
        events=events,
        answer=LeadAnswer(lead_id=lead_id, status="rejected"),
        status_code=422,
        # The body's fingerprint tells a replay from a reuse of the key for another lead.
        idempotency=(
            (
                source.publisher_id,
                idempotency,
                _digest(_fingerprint_encoder.encode([vertical.key, raw]).decode()),
            )
            if idempotency
            else None
        ),
    )
    if checked.lead is None:
        errors = msgspec.to_builtins(checked.errors)
        row.update(
            status="rejected",
            sub_id=_text(raw.get("sub_id")),
            external_id=_text(raw.get("external_id")),
            grade=None,
            grade_score=None,
            grade_reasons=[],
            fields=raw,
            consent=None,
            extra={},
            errors=errors,
        )
        events.append({"lead_id": lead_id, "kind": "rejected", "at": now, "data": {"errors": errors}})
        write.answer = LeadAnswer(lead_id=lead_id, status="rejected", errors=checked.errors)
    else:
        lead = checked.lead
        score = await services.sources.score(source.publisher_id, lead.fields.get("sub_id"))
        graded = grade_lead(lead, checked.signals, source_score=score)
        row.update(
            status="accepted",
            sub_id=lead.fields.get("sub_id"),
            external_id=lead.fields.get("external_id"),
            grade=graded.grade,
            grade_score=graded.score,
            grade_reasons=graded.reasons,
            fields=lead.fields,
            consent=msgspec.to_builtins(lead.consent) if lead.consent else None,
            extra=lead.extra,
            errors=[],
        )
        events.append({"lead_id": lead_id, "kind": "validated", "at": now, "data": {}})
        events.append(
            {
                "lead_id": lead_id,
                "kind": "graded",
                "at": now,
                "data": {"grade": graded.grade, "score": graded.score, "reasons": graded.reasons},
            }
        )
        window = vertical.distribution.duplicate_window_days
        if window > 0:
            write.dedupe = [
                (kind, claim_key(vertical.key, kind, _digest(str(lead.fields[kind]).lower())))
                for kind in ("phone", "email")
                if lead.fields.get(kind)
            ]
            write.window_start = now - timedelta(days=window)
        excluded = await unwanted_by_all(
            services.jobs.catalog,
            vertical.key,
            vertical.distribution.floor_cents_by_grade,
            lead.fields,
            graded.grade,
            now,
        )
        if excluded is not None:
            # No campaign can take it: settled here, in the lead's own commit, as distribution
            # would settle it, sparing the outbox and a second transaction.
            row["status"] = "unsold"
            write.settled = unsold_events(lead_id, excluded, now)
            if posted.mode == "sync":
                write.answer = LeadAnswer(lead_id=lead_id, status="unsold", grade=graded.grade)
                write.status_code = 201
            else:
                write.answer = LeadAnswer(lead_id=lead_id, status="accepted", grade=graded.grade)
                write.status_code = 202
            return await services.writer.write(write)
        write.outbox = {
            "job": "distribute",
            "lead_id": lead_id,
            "payload": {},
            "due_at": now,
            "attempts": 0,
            # A sync request distributes the lead itself; the runner takes over if it dies.
            "locked_until": now + services.runner.lease if posted.mode == "sync" else None,
            "created_at": now,
        }
        write.answer = LeadAnswer(lead_id=lead_id, status="accepted", grade=graded.grade)
        write.status_code = 201 if posted.mode == "sync" else 202

    offer_ahead = (
        posted.mode == "sync"
        and write.answer.status == "accepted"
        and idempotency is None
        and source.payout is not None
    )
    ahead: Ahead | None = None
    if not offer_ahead:
        result = await services.writer.write(write)
        if result.replayed or result.answer.status != "accepted" or posted.mode == "async":
            return result
    else:
        # The auction's pings go out while the lead commits (a replay cannot be, without a key).
        ahead = Ahead(
            lead=LeadForSale(
                id=lead_id,
                vertical=vertical.key,
                status="accepted",
                grade=row["grade"],
                fields=row["fields"],
                consent=row["consent"],
                payout_cents=0,
                publisher_id=source.publisher_id,
                publisher_terms=source.payout,
            ),
            write=partial(services.writer.write, write),
        )
    try:
        with services.runner.distributing(lead_id):
            answer = await distribute(services.jobs, lead_id, mode="sync", ahead=ahead)
    except Exception:
        if ahead is not None:
            result = await ahead.stored()  # a lead that could not be stored answers with that error
        if result.replayed or result.answer.status != "accepted":
            return result
        # Stored and owed: the outbox runner distributes it when the lease runs out.
        log.exception("sync distribution of %s failed; left to the outbox", lead_id)
        return WriteResult(status_code=202, answer=result.answer)
    if ahead is not None:
        result = await ahead.stored()
    if answer is None or result.replayed or result.answer.status != "accepted":
        return result
    return WriteResult(status_code=201, answer=answer)


def _text(value: object) -> str | None:
    return str(value)[:255] if isinstance(value, str | int) and str(value) else None
