"""Hostile input on the console's pages: odd query values and form fields are a page naming
the problem (4xx), never a server error, and change nothing."""

from __future__ import annotations

import re

import pytest

from tests.api.test_hosted_forms import open_form, person
from tests.conftest import ADMIN_KEY, Market
from tests.console.test_console import sign_in

ODD = ["\x00", "a" * 5000, "💥", "' OR 1=1 --", "../../etc/passwd", "-1", "9" * 40, "%00", "<script>"]
PAGES = {
    "/console/flow": ["vertical", "publisher", "sub_id", "status"],
    "/console/leads": ["status", "vertical", "publisher", "sub_id", "since", "until", "cursor", "limit"],
    "/console/money": ["month", "since", "until"],
    "/console/charts": ["since", "until"],
    "/console/deliveries": ["buyer", "campaign", "status", "since", "until", "cursor"],
    "/console/holds": ["state", "buyer", "lead", "cursor"],
    "/console/alerts": ["kind", "buyer_id", "cursor"],
    "/console/accounts": ["publishers_after", "buyers_after"],
    "/console/keys": ["role", "account_id", "after"],
    "/console/returns": ["status"],
}


@pytest.mark.parametrize("path", sorted(PAGES))
async def test_odd_query_values_get_a_page_not_a_server_error(market: Market, path: str) -> None:
    await sign_in(market.client, ADMIN_KEY)
    for name in PAGES[path]:
        for value in ODD:
            answer = await market.client.get(path, params={name: value})
            assert answer.status_code < 500, (path, name, value, answer.text[:300])
            assert "<script>" not in answer.text.split("</header>", 1)[-1].replace(
                '<script src="/console/static/', ""
            ), (path, name)


async def test_odd_form_fields_get_a_marked_form_and_write_nothing(market: Market) -> None:
    buyer = await market.buyer()
    await sign_in(market.client, ADMIN_KEY)
    before = {
        path: (await market.client.get(path, headers=market.admin)).json()
        for path in ("/v1/publishers", "/v1/buyers", "/v1/keys", f"/v1/accounts/{buyer.id}/balance")
    }
    posts = {
        "/console/accounts": {"kind": "publisher", "name": "\x00", "payout.percent": "9" * 40},
        "/console/keys": {"role": "💥", "name": "a" * 5000},
        f"/console/accounts/{buyer.id}/payments": {"amount": "1e400", "reference": "\x00"},
        "/console/alerts/subscriptions": {"kinds": "💥", "email": "<script>", "webhook_url": "javascript:1"},
    }
    page = await market.client.get("/console/accounts")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    for action, fields in posts.items():
        answer = await market.client.post(action, data={"csrf_token": token.group(1), **fields})
        assert 400 <= answer.status_code < 500, (action, answer.status_code, answer.text[:500])
    after = {path: (await market.client.get(path, headers=market.admin)).json() for path in before}
    assert after == before


@pytest.mark.parametrize(
    ("field", "refused"),
    [("first_name", True), ("zip", True), ("page_url", False), ("consent_given", False), ("\x00", False)],
)
async def test_a_hosted_form_sent_with_a_nul_keeps_none(market: Market, field: str, refused: bool) -> None:
    """A lead field holding a NUL is refused, named, on a page; elsewhere (the page's address, the
    checkbox's value, a field the form does not have) the NUL is never kept."""
    publisher = await market.publisher()
    _, token = await open_form(market, publisher.id)
    answer = await market.client.post(
        f"/forms/{publisher.id}/auto_insurance", data=person(csrf_token=token, **{field: "a\x00b"})
    )
    assert answer.status_code < 500 and answer.headers["content-type"].startswith("text/html")
    assert (400 <= answer.status_code < 500) == refused, (field, answer.status_code)
    for lead in (await market.client.get("/v1/leads", headers=market.admin)).json()["items"]:
        assert lead["status"] == ("rejected" if refused else lead["status"])
        whole = await market.client.get(f"/v1/leads/{lead['id']}/events", headers=market.admin)
        assert "\\u0000" not in whole.text and "\x00" not in whole.text
