"""Keys, then roles, then bodies: a key whose role may never call an endpoint is a 403 whatever
the request carries (a malformed, huge or deeply nested body, a query of nonsense), and a request
without a valid key a 401; only a role the endpoint serves gets its body or query read.

Every route handler says which roles may call it (`opt=roles(...)`, api/auth.py) or is public by
name; an app with a handler that does neither refuses to start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, get_args

import pytest
from litestar import Litestar, get
from litestar.routes import HTTPRoute

from exchange.api.app import create_app
from exchange.api.auth import check_roles, roles
from exchange.api.keys import KeyController
from exchange.settings import Settings
from exchange.types import Role
from tests.conftest import Market, bearer

DEEP_JSON = '{"a":' * 1000 + "1" + "}" * 1000
# Within the 1 MiB body limit, but far past any field's own bound (a name holds 200 characters).
LARGE_JSON = '{"name": "' + "x" * 900_000 + '", "timezone": "UTC"}'
# Past the body limit: one who may call the endpoint is refused it as too large (413).
TOO_LARGE_JSON = '{"name": "' + "x" * 1_500_000 + '", "timezone": "UTC"}'
# Past the app's limit but within a batch file's: read only for a publisher or an operator.
JUNK_CSV = b"lead_id,\xff\xfe\x00status\n" + b'"unterminated,' * 200_000
BROKEN_MULTIPART = b"--edge\r\nContent-Disposition: form-data; name=file\r\n\r\n" + b"\x00" * 50_000
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lead [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><lead><first_name>&b;</first_name></lead>'
)
JSON, CSV = "application/json", "text/csv"


@dataclass(frozen=True)
class Case:
    """A request `refused` (a role the endpoint never serves) sends; `allowed`, a role it
    serves, sending the same is refused for what it carries (`unreadable`)."""

    method: str
    path: str
    refused: str
    body: str | bytes | None = None
    content_type: str | None = None
    query: str = ""
    allowed: str | None = None
    unreadable: tuple[int, ...] = (400, 422)


CASES: tuple[Case, ...] = (
    # JSON bodies.
    Case("POST", "/v1/buyers", "publisher", "{not json", JSON, allowed="operator"),
    Case("POST", "/v1/buyers", "buyer", DEEP_JSON, JSON, allowed="operator"),
    Case("POST", "/v1/buyers", "finance", LARGE_JSON, JSON, allowed="operator"),
    Case("POST", "/v1/buyers", "publisher", TOO_LARGE_JSON, JSON, allowed="operator", unreadable=(413,)),
    Case("POST", "/v1/keys", "finance", '{"role": "emperor", "name": 5}', JSON, allowed="operator"),
    Case(
        "PATCH",
        "/v1/campaigns/cmp_none",
        "publisher",
        '{"weight": "heavy", "filters": [[[[[]]]]]}',
        JSON,
        allowed="buyer",
    ),
    Case("POST", "/v1/adjustments", "buyer", DEEP_JSON, JSON, allowed="finance"),
    # A buyer may not record a payment, even to its own account.
    Case("POST", "/v1/buyers/{buyer_id}/payments", "buyer", '{"amount_cents": -5}', JSON, allowed="finance"),
    Case(
        "PUT",
        "/v1/verticals/auto_insurance/distribution",
        "finance",
        '{"floor_cents_by_grade": {"A": "\\u0000"}}',
        JSON,
        allowed="operator",
    ),
    Case("POST", "/v1/periods/2020-01/reopen", "finance", "[1, 2, 3]", JSON, allowed="operator"),
    # CSV bodies.
    Case("POST", "/v1/dispositions", "publisher", JUNK_CSV[:900_000], CSV),
    Case("POST", "/v1/leads/batch", "buyer", JUNK_CSV, CSV, "vertical=no_such&publisher_id=pub_none"),
    # Multipart and raw bodies.
    Case("POST", "/v1/leads/batch", "finance", BROKEN_MULTIPART, "multipart/form-data; boundary=edge"),
    Case("POST", "/v1/inbound/email", "operator", b" \r\n \r\n", "message/rfc822", allowed="publisher"),
    Case(
        "POST",
        "/v1/leads",
        "buyer",
        "a." * 10_000 + "b=1",
        "application/x-www-form-urlencoded",
        "vertical=auto_insurance",
        allowed="publisher",
    ),
    Case("POST", "/v1/pings", "operator", LAUGHS, "application/xml", "vertical=auto_insurance"),
    # Query-heavy reads.
    Case("GET", "/v1/deliveries", "buyer", query="since=yesterday&limit=0&bogus=1", allowed="operator"),
    Case("GET", "/v1/ledger/entries", "publisher", query="cursor=-1&format=pdf", allowed="finance"),
    Case("GET", "/v1/audit", "finance", query="until=not-a-date&limit=0", allowed="operator"),
    Case("GET", "/v1/marketplace", "publisher", query="max_age_hours=inf", allowed="buyer"),
    Case("GET", "/v1/settlements", "buyer", query="month=2020-13&format=xlsx", allowed="finance"),
    Case("GET", "/v1/holds", "buyer", query="state=bogus&limit=-1", allowed="operator"),
    Case("GET", "/v1/jobs", "finance", query="cursor=abc&job=x&lead_id=y", allowed="operator"),
)


async def _keys(market: Market) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """An Authorization header for each role, and the ids a path may name."""
    publisher, buyer = await market.publisher(), await market.buyer()
    created = await market.client.post(
        "/v1/keys", json={"role": "finance", "name": "Finance staff"}, headers=market.admin
    )
    assert created.status_code == 201, created.text
    headers = {
        "operator": market.admin,
        "finance": bearer(created.json()["api_key"]),
        "publisher": publisher.auth,
        "buyer": buyer.auth,
    }
    return headers, {"buyer_id": buyer.id, "publisher_id": publisher.id}


async def _send(market: Market, case: Case, auth: dict[str, str], ids: dict[str, str]) -> Any:
    headers = {**auth, **({"Content-Type": case.content_type} if case.content_type else {})}
    url = case.path.format_map(ids) + (f"?{case.query}" if case.query else "")
    content = case.body.encode() if isinstance(case.body, str) else case.body
    return await market.client.request(case.method, url, content=content, headers=headers)


async def test_a_role_that_may_never_call_an_endpoint_is_403_whatever_the_request_carries(
    market: Market,
) -> None:
    headers, ids = await _keys(market)
    wrong = []
    for case in CASES:
        where = f"{case.method} {case.path}?{case.query}"
        refused = await _send(market, case, headers[case.refused], ids)
        if refused.status_code != 403 or refused.json()["code"] != "forbidden":
            wrong.append(f"{where} as {case.refused}: {refused.status_code} {refused.text[:120]}")
        elif case.refused not in refused.json()["message"]:
            wrong.append(f"{where} as {case.refused}: the refusal names no role: {refused.text}")
        for who, auth in (("no key", {}), ("an unknown key", bearer("lx_unknown"))):
            answer = await _send(market, case, auth, ids)
            if answer.status_code != 401:
                wrong.append(f"{where} with {who}: {answer.status_code} {answer.text[:120]}")
        if case.allowed is not None:  # the request is unreadable to one who may call it
            answer = await _send(market, case, headers[case.allowed], ids)
            if answer.status_code not in case.unreadable:
                wrong.append(f"{where} as {case.allowed}: {answer.status_code} {answer.text[:120]}")
    assert not wrong, "\n".join(wrong)


async def test_a_refused_role_changes_nothing(market: Market) -> None:
    headers, ids = await _keys(market)
    body = {"amount_cents": 500, "reference": "self-credit"}
    refused = await market.client.post(
        f"/v1/buyers/{ids['buyer_id']}/payments", json=body, headers=headers["buyer"]
    )
    assert refused.status_code == 403
    balance = await market.client.get(f"/v1/accounts/{ids['buyer_id']}/balance", headers=headers["buyer"])
    assert balance.status_code == 200 and balance.json()["balance_cents"] == 0


# Served without a key, each for its reason; every other route names the roles that may call it.
PUBLIC = ("/healthz", "/metrics", "/schema", "/forms/", "/demo-buyer/", "/console")
_APP = create_app(Settings(demo=True))
_HANDLERS = [
    (f"{method} {route.path}", handler)
    for route in _APP.routes
    if isinstance(route, HTTPRoute)
    for handler in route.route_handlers
    for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"})
]


@pytest.mark.parametrize(("route", "handler"), _HANDLERS, ids=[route for route, _ in _HANDLERS])
def test_every_route_names_its_roles_or_is_public(route: str, handler: Any) -> None:
    path = route.split(" ", 1)[1]
    named = handler.opt.get("roles")
    if path.startswith(PUBLIC):
        assert named is None, f"{route} is public: its roles would never be checked"
    else:
        assert path.startswith("/v1/"), f"{route}: a keyed route outside /v1 is never checked"
        assert named, f"{route} names no roles: give it opt=roles(...)"
        assert set(named) <= set(get_args(Role)), f"{route}: no such role in {named}"


def test_the_spec_names_each_operations_roles() -> None:
    spec = _APP.openapi_schema.to_schema()
    for route, handler in _HANDLERS:
        method, path = route.split(" ", 1)
        if not path.startswith("/v1/"):
            continue
        operation = spec["paths"][re.sub(r"\{(\w+):\w+\}", r"{\1}", path)][method.lower()]
        said = f"Roles: {', '.join(handler.opt['roles'])}."
        assert operation["description"].endswith(said), (route, operation.get("description"))


def test_an_app_with_a_route_that_names_no_roles_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(KeyController.create_key.opt, "roles")
    with pytest.raises(Exception, match=r"KeyController\.create_key \(/v1/keys\): names no roles"):
        create_app(Settings())


def test_roles_are_refused_where_they_would_go_unchecked() -> None:
    @get("/v1/open", sync_to_thread=False)
    def open_to_every_key() -> None: ...

    @get("/elsewhere", opt=roles("operator"), sync_to_thread=False)
    def outside_v1() -> None: ...

    @get("/unlisted", sync_to_thread=False)
    def neither_keyed_nor_public() -> None: ...

    with pytest.raises(Exception) as refused:
        check_roles(Litestar([open_to_every_key, outside_v1, neither_keyed_nor_public]))
    message = str(refused.value)
    assert "open_to_every_key (/v1/open): names no roles" in message
    assert "outside_v1 (/elsewhere): roles are checked only under /v1" in message
    assert "neither_keyed_nor_public (/unlisted)" in message

    @get("/v1/declared", opt=roles("operator", "finance"), sync_to_thread=False)
    def declared() -> None: ...

    check_roles(Litestar([declared]))  # no error
