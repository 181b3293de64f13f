"""Calls to buyers: a ping (the anonymised offer) or a post (the whole lead), audited.

Each call yields what was sent (secrets masked), what came back, the latency, and the
buyer's answer as the campaign's response rule reads it.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from adapters.outbound.bodies import build_body, literal_secrets, mask
from adapters.outbound.http import HttpClient
from buyers.campaigns import HttpStep
from buyers.responses import BuyerAnswer, read_answer
from exchange.types import PERSONAL_FIELDS

CallStatus = Literal["accepted", "rejected", "failed", "timeout", "bid", "no_bid"]
# Kept in the audit trail per answer; a buyer's page of HTML is not evidence.
MAX_AUDIT_BODY = 4096


class Call(msgspec.Struct, frozen=True, kw_only=True):
    status: CallStatus
    answer: BuyerAnswer
    request: dict[str, Any]
    response: dict[str, Any]
    http_status: int | None
    latency_ms: float
    is_transient: bool  # a connection error, a timeout or a 5xx: worth another try


def ping_fields(fields: dict[str, Any], grade: str | None, lead_id: str) -> dict[str, Any]:
    """Only what a buyer may see before buying: no name, e-mail, phone, street address or IP."""
    safe = {k: v for k, v in fields.items() if k not in PERSONAL_FIELDS and k not in _NOT_IN_PINGS}
    safe["grade"] = grade
    safe["lead_id"] = lead_id
    return safe


# Canonical fields that are not contact data yet identify a person or a source.
_NOT_IN_PINGS = frozenset({"user_agent", "landing_page_url", "external_id", "sub_id"})


async def call_buyer(
    client: HttpClient,
    step: HttpStep,
    payload: dict[str, Any],
    *,
    kind: Literal["ping", "post"],
    timeout_ms: int,
    bodies: dict[Any, tuple[bytes, str]] | None = None,
) -> Call:
    """One audited call. `bodies` shares built bodies among calls of one payload (an auction's
    pings): campaigns with the same format and mapping receive the same bytes."""
    if bodies is None:
        body, content_type = build_body(step.format, payload, step.mapping)
    else:
        key = (step.format, tuple(step.mapping.items()) if step.mapping else None)
        built = bodies.get(key)
        if built is None:
            built = bodies[key] = build_body(step.format, payload, step.mapping)
        body, content_type = built
    headers = {"Content-Type": content_type, **step.headers}
    exchange = await client.send(step.method, step.url, headers, body, content_type, timeout_ms)
    secrets = literal_secrets(step.mapping) + [v for v in step.headers.values() if len(v) >= 4]
    text = exchange.body[:MAX_AUDIT_BODY].decode("utf-8", "replace")
    request = {
        "method": step.method,
        "url": mask(step.url, secrets),
        "content_type": content_type,
        "body": mask(body.decode("utf-8", "replace"), secrets),
    }
    response = {"body": mask(text, secrets), "content_type": exchange.content_type, "error": exchange.error}
    if exchange.error is not None or exchange.status is None:
        failed = "timeout" if exchange.error == "timeout" else "failed"
        answer = BuyerAnswer(accepted=False, reason=exchange.error)
        return Call(
            status=failed,
            answer=answer,
            request=request,
            response=response,
            http_status=None,
            latency_ms=exchange.latency_ms,
            is_transient=True,
        )
    answer = read_answer(step.response, exchange.status, exchange.body, exchange.content_type)
    if kind == "ping":
        status: CallStatus = "bid" if answer.accepted and answer.price_cents is not None else "no_bid"
    elif answer.accepted:
        status = "accepted"
    else:
        status = "failed" if exchange.status >= 500 else "rejected"
    return Call(
        status=status,
        answer=answer,
        request=request,
        response=response,
        http_status=exchange.status,
        latency_ms=exchange.latency_ms,
        is_transient=exchange.status >= 500,
    )
