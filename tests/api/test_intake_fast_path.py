"""`POST /v1/leads` has two routes: the fast path for a publisher whose key this process saw
within the key cache's second, and the Litestar handler for everything else. Both must
answer every request alike."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from exchange.api.leads import _fast_request
from exchange.api.services import Services
from exchange.storage.migrate import hash_key
from tests.conftest import Market, auto_insurance_lead


def _services(client: AsyncTestClient[Any]) -> Services:
    services = client.app.state.services
    assert isinstance(services, Services)
    return services


def _shape(response: Any) -> tuple[int, dict[str, Any]]:
    body = response.json()
    body.pop("lead_id", None)
    return response.status_code, body


async def test_both_routes_answer_every_kind_of_request_alike(market: Market) -> None:
    publisher = await market.publisher()
    services = _services(market.client)
    seen = auto_insurance_lead()
    first = await market.post_lead(publisher, seen)
    key = {"Idempotency-Key": "order-1"}
    await market.post_lead(publisher, auto_insurance_lead(), headers=key)

    cases: list[tuple[str, Any]] = [
        ("sync, no campaign wants it", lambda: market.post_lead(publisher, auto_insurance_lead())),
        ("async", lambda: market.post_lead(publisher, auto_insurance_lead(), mode="async")),
        ("duplicate", lambda: market.post_lead(publisher, seen)),
        ("rejected", lambda: market.post_lead(publisher, auto_insurance_lead(phone="12", email="x"))),
        (
            "malformed JSON",
            lambda: market.post_lead(publisher, content=b"{", headers={"Content-Type": "application/json"}),
        ),
        ("unknown vertical", lambda: market.post_lead(publisher, auto_insurance_lead(), vertical="knitting")),
        ("form body", lambda: market.post_lead(publisher, data={**auto_insurance_lead(), "consent": ""})),
        (
            "unreadable type",
            lambda: market.post_lead(publisher, content=b"x", headers={"Content-Type": "image/png"}),
        ),
        ("replayed key", lambda: market.post_lead(publisher, auto_insurance_lead(), headers=key)),
    ]
    for name, post in cases:
        services.principals.clear()  # a cold key cache: the Litestar handler answers
        full = await post()
        # The handler cached the key: the same request now takes the fast path.
        assert services.principals.get(hash_key(publisher.key)) is not None, name
        fast = await post()
        assert _shape(fast) == _shape(full), (name, fast.text, full.text)
        assert fast.headers["content-type"].startswith("application/json"), name
    assert first.status_code == 201


async def test_the_fast_path_takes_only_what_it_can_answer(market: Market) -> None:
    publisher = await market.publisher()
    services = _services(market.client)
    await market.post_lead(publisher, auto_insurance_lead())  # the key is now cached

    def scope(**changes: Any) -> dict[str, Any]:
        headers = {
            b"authorization": f"Bearer {publisher.key}".encode(),
            b"content-type": b"application/json",
            b"content-length": b"100",
            **changes.pop("headers", {}),
        }
        return {
            "method": "POST",
            "query_string": b"vertical=auto_insurance&mode=async",
            "headers": [(k, v) for k, v in headers.items() if v is not None],
            **changes,
        }

    taken = _fast_request(scope(), services)
    assert taken is not None
    principal, posted = taken
    assert principal.publisher_id == publisher.id
    assert (posted.vertical, posted.mode, posted.content_type) == (
        "auto_insurance",
        "async",
        "application/json",
    )
    idempotent = _fast_request(scope(headers={b"idempotency-key": b"k-9"}), services)
    assert idempotent is not None and idempotent[1].idempotency_key == "k-9"

    sent_on = {
        "an XML answer": scope(headers={b"accept": b"application/xml"}),
        "another parameter": scope(query_string=b"vertical=auto_insurance&debug=1"),
        "a repeated parameter": scope(query_string=b"mode=sync&mode=async"),
        "an unknown mode": scope(query_string=b"mode=later"),
        "no declared length": scope(headers={b"content-length": None}),
        "a body over the limit": scope(headers={b"content-length": str(10**9).encode()}),
        "an unknown key": scope(headers={b"authorization": b"Bearer nobody"}),
        "no key": scope(headers={b"authorization": None}),
        "an operator's key": scope(headers={b"authorization": market.admin["Authorization"].encode()}),
        "another method": scope(method="GET"),
    }
    await market.client.get("/v1/leads", headers=market.admin)  # the operator's key is cached too
    for name, request in sent_on.items():
        assert _fast_request(request, services) is None, name
    services.principals.clear()
    assert _fast_request(scope(), services) is None  # a key not seen within the second
