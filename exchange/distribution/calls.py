"""Calls to buyers: a ping (the anonymised offer) or a post (the whole lead), audited.

Every call goes through the campaign's delivery adapter (adapters/outbound): the adapter
builds the request and carries it; what is kept of it (secrets masked), the answer as the
campaign's response rule reads it, and whether another try is worth it are decided here, the
same for every adapter. A request is plain data and can be sent again byte for byte: a post's
is kept on its hold while the outcome is open, so a process that takes the lead over asks the
same buyer the same question under the same delivery id.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import msgspec

from adapters.outbound.protocol import MAX_AUDIT_BODY, Delivery, DeliveryAdapter, Request
from adapters.outbound.registry import AdapterRegistry
from buyers.campaigns import ResponseRule
from buyers.responses import BuyerAnswer, read_answer
from exchange.types import PERSONAL_FIELDS

log = logging.getLogger(__name__)

# "unanswered": sent by a process that stopped before an answer came (found on takeover).
CallStatus = Literal["accepted", "rejected", "failed", "timeout", "bid", "no_bid", "unanswered"]


class Call(msgspec.Struct, frozen=True, kw_only=True):
    status: CallStatus
    answer: BuyerAnswer
    request: dict[str, Any]
    response: dict[str, Any]
    http_status: int | None  # the transport's status: HTTP, or an SMTP reply code
    latency_ms: float
    is_transient: bool  # a connection error, a timeout, a 5xx: worth another try


def record(request: Request) -> dict[str, Any]:
    """A request as kept on a hold (JSON)."""
    return msgspec.to_builtins(request)


def from_record(kept: dict[str, Any]) -> Request:
    """A request kept on a hold; one kept before adapters built requests (an HTTP step and
    its body) reads as the http adapter's."""
    if "step" in kept:
        step = kept["step"]
        return Request(
            adapter="http",
            target=step["url"],
            body=kept["body"],
            content_type=kept["content_type"],
            headers=step.get("headers", {}),
            options={"method": step.get("method", "POST")},
            timeout_ms=step.get("timeout_ms", 5000),
            response=step.get("response"),
        )
    return msgspec.convert(kept, Request)


def ping_fields(fields: dict[str, Any], grade: str | None, lead_id: str) -> dict[str, Any]:
    """Only what a buyer may see before buying: no name, e-mail, phone, street address or IP."""
    safe = {k: v for k, v in fields.items() if k not in PERSONAL_FIELDS and k not in _NOT_IN_PINGS}
    safe["grade"] = grade
    safe["lead_id"] = lead_id
    return safe


# Canonical fields that are not contact data yet identify a person or a source.
_NOT_IN_PINGS = frozenset({"user_agent", "landing_page_url", "external_id", "sub_id"})


def outgoing(
    adapters: AdapterRegistry,
    adapter: str,
    config: Any,
    stage: Literal["ping", "post"],
    payload: dict[str, Any],
    shared: dict[Any, Any] | None = None,
) -> Request:
    """The request for `payload` through the named adapter (its `config`, read when the
    campaign was loaded). `shared` lets the pings of one auction share built bodies."""
    found = adapters.adapter_for(adapter)
    if found is None:
        raise LookupError(f"no delivery adapter named {adapter!r} is installed")
    return found.request(config, stage, payload, shared=shared)


async def send(
    adapters: AdapterRegistry,
    request: Request,
    *,
    kind: Literal["ping", "post"],
    idempotency_key: str | None = None,
) -> Call:
    """Send `request` once through its adapter. A post carries its delivery id as its key,
    the same on every attempt, so a buyer can tell a repeat from a second lead."""
    adapter = adapters.adapter_for(request.adapter)
    audit = request.audit(idempotency_key)
    if adapter is None:
        missing = f"no delivery adapter named {request.adapter!r} is installed"
        return _failed(audit, Delivery(status=None, error=missing), transient=False)
    try:
        delivery = await adapter.send(request, key=idempotency_key)
    except Exception as exc:  # an adapter that raised (a plugin's bug): this call failed, no more
        log.exception("the %s adapter raised while sending", request.adapter)
        return _failed(
            audit,
            Delivery(status=None, error=f"the {request.adapter} adapter failed: {exc}"),
            transient=False,
        )
    response = {
        "body": request.mask(delivery.body[:MAX_AUDIT_BODY].decode("utf-8", "replace")),
        "content_type": delivery.content_type,
        "error": delivery.error,
    }
    if delivery.error is not None or delivery.status is None:
        return _failed(audit, delivery, transient=delivery.transient, response=response)
    answer = _answer(adapter, request, delivery)
    if kind == "ping":
        status: CallStatus = "bid" if answer.accepted and answer.price_cents is not None else "no_bid"
    elif answer.accepted:
        status = "accepted"
    else:
        status = "failed" if delivery.transient else "rejected"
    return Call(
        status=status,
        answer=answer,
        request=audit,
        response=response,
        http_status=delivery.status,
        latency_ms=delivery.latency_ms,
        is_transient=delivery.transient,
    )


def _answer(adapter: DeliveryAdapter, request: Request, delivery: Delivery) -> BuyerAnswer:
    """The buyer's answer by the campaign's rule; for a transport whose taking the request is
    the acceptance (e-mail, files), that it took it."""
    if not adapter.answers:
        return BuyerAnswer(accepted=True)
    rule = _rules.get(request.response) if request.response is not None else None
    assert delivery.status is not None
    return read_answer(rule, delivery.status, delivery.body, delivery.content_type)


class _Rules:
    """Response rules read once per rule object: a campaign's requests share its rule's dict,
    so an auction's pings do not read the same rule again and again."""

    def __init__(self) -> None:
        self._by_id: dict[int, tuple[dict[str, Any], ResponseRule]] = {}

    def get(self, raw: dict[str, Any]) -> ResponseRule:
        found = self._by_id.get(id(raw))
        if found is not None and found[0] is raw:
            return found[1]
        if len(self._by_id) > 10_000:
            self._by_id.clear()
        rule = msgspec.convert(raw, ResponseRule)
        self._by_id[id(raw)] = (raw, rule)
        return rule


_rules = _Rules()


def _failed(
    audit: dict[str, Any], delivery: Delivery, *, transient: bool, response: dict[str, Any] | None = None
) -> Call:
    failed: CallStatus = "timeout" if delivery.error == "timeout" else "failed"
    return Call(
        status=failed,
        answer=BuyerAnswer(accepted=False, reason=delivery.error),
        request=audit,
        response=response or {"body": "", "content_type": None, "error": delivery.error},
        http_status=None,
        latency_ms=delivery.latency_ms,
        is_transient=transient,
    )


def adapter_failed(adapter: str, exc: Exception) -> Call:
    """The audit of a call its adapter could not even build."""
    error = f"the {adapter} adapter failed: {exc}"
    return _failed({"adapter": adapter}, Delivery(status=None, error=error), transient=False)


def unanswered(request: Request, idempotency_key: str | None) -> Call:
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
