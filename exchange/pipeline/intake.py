"""Intake: one posted body becomes one stored lead and its answer.

parse (adapters.inbound) → map the publisher's names → validate → grade → dedupe claims
and eligibility → the group-commit writer (which claims, and reports a key or contact
taken) → a replay or a mismatch decided here → in sync mode, distribute before answering.

The answer says what became of the lead; which HTTP status carries it is the API's choice.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta
from functools import partial
from typing import Any, Literal

import msgspec

from adapters.inbound import parse_lead_body
from exchange.distribution.eligible import Eligible, select_candidates
from exchange.distribution.engine import Ahead, distribute
from exchange.distribution.outcome import answer_as_stored, unsold_at_intake
from exchange.distribution.records import LeadForSale, load_lead
from exchange.errors import Invalid, field_invalid
from exchange.ids import new_id
from exchange.pipeline.dedupe import as_duplicate, claims
from exchange.pipeline.grade import grade_lead
from exchange.pipeline.normalize import apply_mapping, without_nul
from exchange.pipeline.validate import Checked, validate_lead
from exchange.storage.outbox import Lease, distribution_row, new_lease
from exchange.storage.writer import LeadWrite, StoredAnswer, WriteResult
from exchange.types import FieldError, LeadAnswer

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
    # How the lead came when not as a request's body: {"channel": "batch", "batch_id", "row"}.
    origin: dict[str, Any] | None = None
    # The id the lead takes, when one was given out before it came (a publisher's ping).
    lead_id: str | None = None


class Received(msgspec.Struct, frozen=True, kw_only=True):
    """What became of a posted lead; `answer.status` is `accepted` while its distribution is
    still owed. `replayed`: the answer of an earlier request with the same key, where a sync
    request's answer is its lead's outcome, read now (`owed` while there is none yet)."""

    answer: LeadAnswer
    replayed: bool = False
    owed: bool = False


def _may_hold_nul(fields: dict[str, Any]) -> bool:
    """Cheap first look (the usual lead has none): is a NUL anywhere in the fields?"""
    return "\\u0000" in _fingerprint_encoder.encode(fields).decode()


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def receive_lead(services: Any, source: Source, posted: Posted) -> Received:
    """Store the posted lead durably and answer it (services: exchange.api.services.Services)."""
    parsed = parse_lead_body(posted.body, posted.content_type)
    return await receive_fields(services, source, posted, parsed.fields, vertical_hint=parsed.vertical_hint)


async def receive_fields(
    services: Any,
    source: Source,
    posted: Posted,
    fields: dict[str, Any],
    *,
    vertical_hint: str | None = None,
) -> Received:
    """Store one lead read from any channel (a request's body, a batch's row, a message) and
    answer it: the same mapping, validation, duplicate check, idempotency, grading and
    events whatever brought it. `posted` says how it came (its body only for the record)."""
    raw = apply_mapping(fields, source.field_mapping) if source.field_mapping else fields
    raw, with_nul = without_nul(raw) if _may_hold_nul(raw) else (raw, [])
    vertical_key = posted.vertical or vertical_hint or source.default_vertical
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
    lead_id = posted.lead_id or new_id("lead")
    checked = validate_lead(raw, vertical, now=now)
    if with_nul:
        nul = [FieldError(field=f, code="invalid_value", message="holds a NUL character") for f in with_nul]
        checked = Checked(lead=None, errors=[*checked.errors, *nul], signals=checked.signals)
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
                **(posted.origin or {}),
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
        mode=posted.mode,
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
        write.dedupe, write.window_start = claims(
            vertical.key, lead.fields, vertical.distribution.duplicate_window_days, now
        )
        write.if_duplicate = as_duplicate
        write.answer = LeadAnswer(lead_id=lead_id, status="accepted", grade=graded.grade)
        live = await services.jobs.catalog.active(vertical.key)
        eligible = select_candidates(
            live, lead.fields, graded.grade, vertical.distribution.floor_cents_by_grade, now
        )
        if not eligible.candidates:
            # No campaign can take it: settled here, in the lead's own commit, as distribution
            # would settle it, sparing the outbox and a second transaction.
            row["status"] = "unsold"
            write.settled = unsold_at_intake(lead_id, eligible.excluded, now)
            if posted.mode == "sync":
                write.answer = LeadAnswer(lead_id=lead_id, status="unsold", grade=graded.grade)
            return await _stored(services, write, await services.writer.write(write))
        if posted.mode == "async":
            write.outbox = distribution_row(lead_id, now)
            return await _stored(services, write, await services.writer.write(write))
        # A sync request distributes the lead itself, under a lease of its own; the runner
        # takes over if the lease lapses (this process died).
        lease = Lease(new_lease(), now + timedelta(seconds=services.jobs.lease_seconds))
        write.outbox = distribution_row(lead_id, now, token=lease.token, until=lease.until)
        return await _distribute_now(services, source, write, lease, eligible)
    return await _stored(services, write, await services.writer.write(write))


async def _distribute_now(
    services: Any, source: Source, write: LeadWrite, lease: Lease, eligible: Eligible
) -> Received:
    """Sync mode: the lead is stored and distributed before the answer. Without an idempotency
    key (so it cannot be a replay) the auction's pings go out while the lead commits."""
    ahead: Ahead | None = None
    lead_id = write.lead["id"]
    if write.idempotency is None and source.payout is not None:
        row = write.lead
        ahead = Ahead(
            lead=LeadForSale(
                id=lead_id,
                vertical=row["vertical"],
                status="accepted",
                grade=row["grade"],
                fields=row["fields"],
                consent=row["consent"],
                payout_cents=0,
                publisher_id=source.publisher_id,
                publisher_terms=source.payout,
                received_at=row["received_at"],
            ),
            write=partial(services.writer.write, write),
        )
    else:
        result = await services.writer.write(write)
        if result.earlier is not None or result.answer.status != "accepted":
            return await _stored(services, write, result)
    try:
        with services.runner.leasing(lease.token):
            answer = await distribute(
                services.jobs, lead_id, lease=lease, mode="sync", ahead=ahead, eligible=eligible
            )
    except Exception:
        if ahead is not None:
            result = await ahead.stored()  # a lead that could not be stored answers with that error
        if result.answer.status != "accepted":
            return await _stored(services, write, result)
        # Stored and owed: the outbox runner distributes it once the lease lapses.
        log.exception("sync distribution of %s failed; left to the outbox", lead_id)
        return Received(answer=result.answer)
    if ahead is not None:
        result = await ahead.stored()
    if answer is None or result.answer.status != "accepted":
        return await _stored(services, write, result)
    return Received(answer=answer)


async def _stored(services: Any, write: LeadWrite, result: WriteResult) -> Received:
    """The answer of what the writer did: a new lead's, or a replay's."""
    if result.earlier is None:
        return Received(answer=result.answer)
    return await _replay(services, write, result.earlier)


async def _replay(services: Any, write: LeadWrite, earlier: StoredAnswer) -> Received:
    """The same key again: the first answer if the body is the same, else a mismatch."""
    assert write.idempotency is not None
    _, key, fingerprint = write.idempotency
    if earlier.fingerprint != fingerprint:
        field = "external_id" if key.startswith("external_id:") else "Idempotency-Key"
        raise Invalid(f"{field} was already used for a different lead", code="idempotency_mismatch")
    if earlier.mode != "sync" or earlier.answer.status != "accepted" or earlier.lead_id is None:
        return Received(answer=earlier.answer, replayed=True)
    # A sync request answers its lead's outcome, which its first answer did not know yet.
    async with services.engine.connect() as conn:
        lead = await load_lead(conn, earlier.lead_id)
    answer = earlier.answer if lead is None else answer_as_stored(lead)
    return Received(answer=answer, replayed=True, owed=answer.status == "accepted")


def _text(value: object) -> str | None:
    return str(value)[:255] if isinstance(value, str | int) and str(value) else None
