"""Duplicates: the same phone or e-mail in a vertical within its duplicate window.

Intake decides what a lead claims (`claims`) and what a duplicate becomes (`as_duplicate`);
the writer claims atomically, in the lead's own commit, and stores the duplicate
instead when another lead holds a claim (storage/writer.py).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from exchange.storage.writer import LeadWrite
from exchange.types import LeadAnswer

KINDS = ("phone", "email")


def claim_key(vertical: str, kind: str, value_hash: str) -> int:
    """The dedupe claim's key for a lead's phone or e-mail (value_hash: the SHA-256 of the
    lowercased value): the first 63 bits of a SHA-256 over the vertical, the kind and that
    hash, so it fits a signed 64-bit column. Two different contacts share a key with odds of
    about one in 10^19 per pair; a lead wrongly taken for a duplicate that way is not worth
    twice the bytes of every claim."""
    digest = hashlib.sha256(f"{vertical}\x1f{kind}\x1f{value_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def value_hash(value: Any) -> str:
    return hashlib.sha256(str(value).lower().encode()).hexdigest()


def claims(
    vertical: str, fields: dict[str, Any], window_days: int, now: datetime
) -> tuple[list[tuple[str, int]], datetime | None]:
    """The (kind, key) claims of a lead's contact, and the start of its window; none when the
    vertical's window is 0 (duplicates allowed)."""
    if window_days <= 0:
        return [], None
    keys = [(kind, claim_key(vertical, kind, value_hash(fields[kind]))) for kind in KINDS if fields.get(kind)]
    return keys, now - timedelta(days=window_days)


def as_duplicate(write: LeadWrite, original_id: str, matched: str) -> LeadWrite:
    """What is stored instead of `write` when `original_id` holds its `matched` contact
    within the window: the lead, as a duplicate, with no work owed and no outcome."""
    lead = write.lead
    return LeadWrite(
        lead={**lead, "status": "duplicate"},
        events=[
            *write.events,
            {
                "lead_id": lead["id"],
                "kind": "duplicate",
                "at": lead["received_at"],
                "data": {"duplicate_of": original_id, "matched": matched},
            },
        ],
        answer=LeadAnswer(lead_id=lead["id"], status="duplicate", grade=write.answer.grade),
        mode=write.mode,
        idempotency=write.idempotency,
    )
