"""Calls to buyers: a ping (the anonymised offer) or a post (the whole lead), audited.

A request is built once (`Outgoing`) and can be sent again byte for byte: a post's is kept
on its hold while the outcome is open, so a process that takes the lead over asks the same
buyer the same question under the same Idempotency-Key. Each call yields what was sent
(secrets masked), what came back, the latency, and the buyer's answer as the campaign's
response rule reads it.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from adapters.outbound.bodies import build_body, literal_secrets, mask
from adapters.outbound.http import HttpClient
from buyers.campaigns import HttpStep
from buyers.responses import BuyerAnswer, read_answer
from exchange.types import PERSONAL_FIELDS

# "unanswered": sent by a process that stopped before an answer came (found on takeover).
CallStatus = Literal["accepted", "rejected", "failed", "timeout", "bid", "no_bid", "unanswered"]
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


class Outgoing(msgspec.Struct, frozen=True, kw_only=True):
    """A request exactly as it goes to a buyer."""

    step: HttpStep
    body: bytes
    content_type: str

    def record(self) -> dict[str, Any]:
        """As kept on a hold (JSON): the step, and the body as the text it is."""
        return {
            "step": msgspec.to_builtins(self.step),
            "body": self.body.decode("utf-8"),
            "content_type": self.content_type,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Outgoing:
        return cls(
            step=msgspec.convert(record["step"], HttpStep),
            body=record["body"].encode("utf-8"),
            content_type=record["content_type"],
        )

    def audit(self, idempotency_key: str | None = None, secrets: list[str] | None = None) -> dict[str, Any]:
        """What the delivery audit keeps of it: the literal secrets of the mapping and the
        headers masked (`secrets`, when the caller has them already)."""
        secrets = self.secrets() if secrets is None else secrets
        request = {
            "method": self.step.method,
            "url": mask(self.step.url, secrets),
            "content_type": self.content_type,
            "body": mask(self.body.decode("utf-8", "replace"), secrets),
        }
        if idempotency_key is not None:
            request["idempotency_key"] = idempotency_key
        return request

    def secrets(self) -> list[str]:
        return literal_secrets(self.step.mapping) + [v for v in self.step.headers.values() if len(v) >= 4]


def ping_fields(fields: dict[str, Any], grade: str | None, lead_id: str) -> dict[str, Any]:
    """Only what a buyer may see before buying: no name, e-mail, phone, street address or IP."""
    safe = {k: v for k, v in fields.items() if k not in PERSONAL_FIELDS and k not in _NOT_IN_PINGS}
    safe["grade"] = grade
    safe["lead_id"] = lead_id
    return safe


# Canonical fields that are not contact data yet identify a person or a source.
_NOT_IN_PINGS = frozenset({"user_agent", "landing_page_url", "external_id", "sub_id"})


def outgoing(
    step: HttpStep, payload: dict[str, Any], bodies: dict[Any, tuple[bytes, str]] | None = None
) -> Outgoing:
    """The request for `payload`. `bodies` shares built bodies among calls of one payload (an
    auction's pings): campaigns with the same format and mapping receive the same bytes."""
    if bodies is None:
        body, content_type = build_body(step.format, payload, step.mapping)
    else:
        key = (step.format, tuple(step.mapping.items()) if step.mapping else None)
        built = bodies.get(key)
        if built is None:
            built = bodies[key] = build_body(step.format, payload, step.mapping)
        body, content_type = built
    return Outgoing(step=step, body=body, content_type=content_type)


async def call_buyer(
    client: HttpClient,
    step: HttpStep,
    payload: dict[str, Any],
    *,
    kind: Literal["ping", "post"],
    timeout_ms: int,
    bodies: dict[Any, tuple[bytes, str]] | None = None,
) -> Call:
    """Build and send one audited call."""
    return await send(client, outgoing(step, payload, bodies), kind=kind, timeout_ms=timeout_ms)


async def send(
    client: HttpClient,
    request: Outgoing,
    *,
    kind: Literal["ping", "post"],
    timeout_ms: int,
    idempotency_key: str | None = None,
) -> Call:
    """Send `request` once. A post carries its delivery id as the Idempotency-Key header, the
    same on every attempt, so a buyer can tell a repeat from a second lead."""
    step = request.step
    headers = {"Content-Type": request.content_type, **step.headers}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    exchange = await client.send(
        step.method, step.url, headers, request.body, request.content_type, timeout_ms
    )
    secrets = request.secrets()
    text = exchange.body[:MAX_AUDIT_BODY].decode("utf-8", "replace")
    audit = request.audit(idempotency_key, secrets)
    response = {"body": mask(text, secrets), "content_type": exchange.content_type, "error": exchange.error}
    if exchange.error is not None or exchange.status is None:
        failed = "timeout" if exchange.error == "timeout" else "failed"
        answer = BuyerAnswer(accepted=False, reason=exchange.error)
        return Call(
            status=failed,
            answer=answer,
            request=audit,
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
        request=audit,
        response=response,
        http_status=exchange.status,
        latency_ms=exchange.latency_ms,
        is_transient=exchange.status >= 500,
    )


def unanswered(request: Outgoing, idempotency_key: str | None) -> Call:
    """The audit of a post whose process stopped before an answer was recorded."""
    return Call(
        status="unanswered",
        answer=BuyerAnswer(accepted=False, reason="no answer recorded: the process posting it stopped"),
        request=request.audit(idempotency_key),
        response={"body": "", "content_type": None, "error": "no answer recorded"},
        http_status=None,
        latency_ms=0.0,
        is_transient=True,
    )
