"""The console: signing in with a key, its cookie and CSRF token, and each role seeing exactly
what the API shows it (the flow, lead pages and their timeline), and /schema working offline."""

from __future__ import annotations

import re
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from exchange.api.app import create_app
from exchange.console.session import SESSION_COOKIE
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, exchange_settings
from tests.distribution.buyers import FakeBuyer, serve

_TOKEN = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    found = _TOKEN.search(html)
    assert found is not None, html[:400]
    return found.group(1)


async def sign_in(client: AsyncTestClient[Any], key: str) -> httpx.Response:
    client.cookies.clear()
    form = await client.get("/console/sign-in")
    assert form.status_code == 200 and 'id="api-key"' in form.text
    return await client.post(
        "/console/sign-in",
        data={"api_key": key, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )


async def test_each_role_signs_in_with_its_key_and_lands_on_its_pages(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    finance = await market.client.post(
        "/v1/keys", json={"role": "finance", "name": "books"}, headers=market.admin
    )
    assert finance.status_code == 201, finance.text
    for key, role, home in (
        (ADMIN_KEY, "operator", "/console/flow"),
        (publisher.key, "publisher", "/console/leads"),
        (buyer.key, "buyer", "/console/leads"),
        (finance.json()["api_key"], "finance", "/console/leads"),
    ):
        answer = await sign_in(market.client, key)
        assert answer.status_code == 303 and answer.headers["location"] == home, (role, answer.text)
        landed = await market.client.get(home)
        assert landed.status_code == 200
        assert f'<span id="account-role" class="role">{role}</span>' in landed.text


async def test_a_wrong_key_is_refused_and_sets_no_session(market: Market) -> None:
    answer = await sign_in(market.client, "lx_not-a-key")
    assert answer.status_code == 401
    assert "unknown or revoked API key" in answer.text
    assert "exchange_session" not in answer.headers.get("set-cookie", "")
    assert (await market.client.get("/console/leads", follow_redirects=False)).status_code == 303


def session_cookie(answer: httpx.Response) -> str:
    cookies = answer.headers.get_list("set-cookie")
    return next(cookie for cookie in cookies if cookie.startswith("exchange_session="))


async def test_the_session_cookie_is_httponly_and_samesite(market: Market) -> None:
    session = session_cookie(await sign_in(market.client, ADMIN_KEY))
    assert "HttpOnly" in session and "samesite=lax" in session.lower()
    assert "Path=/console" in session and "Secure" not in session


async def test_the_session_cookie_is_secure_when_the_exchange_is_public_over_https(
    database_url: str,
) -> None:
    settings = exchange_settings(database_url, public_url="https://leads.example.com")
    async with AsyncTestClient(app=create_app(settings)) as client:
        # Served over plain HTTP behind an HTTPS proxy: the public address decides.
        form = await client.get("/console/sign-in")
        assert all("Secure" in cookie for cookie in form.headers.get_list("set-cookie"))
        client.base_url = httpx.URL("https://testserver.local")
        session = session_cookie(await sign_in(client, ADMIN_KEY))
    assert "Secure" in session and "HttpOnly" in session


async def test_a_post_without_its_csrf_token_is_refused(market: Market) -> None:
    client = market.client
    form = await client.get("/console/sign-in")
    for data in ({"api_key": ADMIN_KEY}, {"api_key": ADMIN_KEY, "csrf_token": "forged"}):
        refused = await client.post("/console/sign-in", data=data, follow_redirects=False)
        assert refused.status_code == 403 and "CSRF" in refused.text
        assert "exchange_session" not in refused.headers.get("set-cookie", "")

    assert (await sign_in(client, ADMIN_KEY)).status_code == 303
    # The sign-in form's token is no longer this session's: signing out needs the page's token.
    stale = csrf_of(form.text)
    refused = await client.post("/console/sign-out", data={"csrf_token": stale}, follow_redirects=False)
    assert refused.status_code == 403
    flow = await client.get("/console/flow")
    assert flow.status_code == 200
    out = await client.post(
        "/console/sign-out", data={"csrf_token": csrf_of(flow.text)}, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/console/sign-in"
    assert (await client.get("/console/flow", follow_redirects=False)).status_code == 303


async def test_revoking_the_key_ends_its_session(market: Market) -> None:
    publisher = await market.publisher()
    made = await market.client.post(
        "/v1/keys",
        json={"role": "publisher", "name": "console", "publisher_id": publisher.id},
        headers=market.admin,
    )
    assert made.status_code == 201, made.text
    assert (await sign_in(market.client, made.json()["api_key"])).status_code == 303
    assert (await market.client.get("/console/leads")).status_code == 200

    revoked = await market.client.delete(f"/v1/keys/{made.json()['id']}", headers=market.admin)
    assert revoked.status_code == 200, revoked.text
    gone = await market.client.get("/console/leads", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/console/sign-in"


async def test_operators_see_a_posted_lead_in_the_flow_and_a_buyer_may_not(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    posted = await market.post_lead(publisher, auto_insurance_lead())
    lead_id = posted.json()["lead_id"]

    await sign_in(market.client, ADMIN_KEY)
    flow = await market.client.get("/console/flow")
    assert flow.status_code == 200 and f'id="lead-{lead_id}"' in flow.text
    assert 'src="/console/static/flow.js"' in flow.text
    rows = await market.client.get(
        "/console/flow/rows", params={"status": "unsold", "publisher": publisher.id}
    )
    assert rows.status_code == 200 and f'id="lead-{lead_id}"' in rows.text
    assert "Leads per minute" in rows.text
    other = await market.client.get("/console/flow/rows", params={"publisher": "pub_nobody"})
    assert f'id="lead-{lead_id}"' not in other.text
    bad = await market.client.get("/console/flow", params={"status": "lost"})
    assert bad.status_code == 422 and "status" in bad.text
    script = await market.client.get("/console/static/flow.js")
    assert script.status_code == 200 and "fetch(" in script.text

    await sign_in(market.client, buyer.key)
    refused = await market.client.get("/console/flow")
    assert refused.status_code == 403 and 'id="error"' in refused.text


async def test_a_publisher_cannot_open_another_publishers_lead(market: Market) -> None:
    mine, theirs = await market.publisher(), await market.publisher(name="Other Leads")
    lead_id = (await market.post_lead(theirs, auto_insurance_lead())).json()["lead_id"]
    own_id = (await market.post_lead(mine, auto_insurance_lead())).json()["lead_id"]

    await sign_in(market.client, mine.key)
    assert (await market.client.get(f"/console/leads/{lead_id}")).status_code == 404
    own = await market.client.get(f"/console/leads/{own_id}")
    assert own.status_code == 200 and 'id="lead-facts"' in own.text
    # A publisher sees its payout, never a buyer, a price or the operators' timeline.
    assert 'id="lead-sales"' not in own.text and 'id="timeline"' not in own.text
    listed = await market.client.get("/console/leads")
    assert own_id in listed.text and lead_id not in listed.text


async def test_the_lead_page_shows_the_auction_and_the_delivery(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer(bid=31.5)) as (fake,):
        await market.campaign(buyer, fake.delivery())
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold", answer.text
    lead_id = answer.json()["lead_id"]

    await sign_in(market.client, ADMIN_KEY)
    page = await market.client.get(f"/console/leads/{lead_id}")
    assert page.status_code == 200
    auction = page.text.split('id="auction-table"', 1)[1].split("</table>", 1)[0]
    assert "$31.50" in auction
    timeline = page.text.split('id="timeline"', 1)[1]
    assert 'data-kind="sold"' in timeline or 'data-kind="sale"' in timeline
    assert 'class="delivery-request"' in timeline and "lead_ref" in timeline  # the buyer's answer
    assert buyer.id in page.text.split('id="sales-table"', 1)[1]
    # Its ledger postings, as GET /v1/ledger/entries?lead_id= gives them, balancing to zero.
    entries = await market.client.get("/v1/ledger/entries", params={"lead_id": lead_id}, headers=market.admin)
    postings = page.text.split('id="postings-table"', 1)[1].split("</table>", 1)[0]
    shown = [int(cents) for cents in re.findall(r'data-cents="(-?\d+)"', postings)]
    assert shown == [e["amount_cents"] for e in entries.json()["items"]] and sum(shown) == 0
    assert -3150 in shown and buyer.id in postings

    await sign_in(market.client, buyer.key)
    bought = await market.client.get(f"/console/leads/{lead_id}")
    assert bought.status_code == 200 and "$31.50" in bought.text and 'id="timeline"' not in bought.text


async def test_the_documentation_page_loads_nothing_from_the_internet(market: Market) -> None:
    page = await market.client.get("/schema")
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert sources, page.text[:400]
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))], sources
    for source in sources:
        asset = await market.client.get(source)
        assert asset.status_code == 200 and asset.content, source


async def test_a_cookie_or_token_with_odd_characters_is_refused_not_an_error(market: Market) -> None:
    for cookie in ("key_x.¹²³.sig", "key_x.123.ßignature", "..", "key_x.99999999999.é"):
        # As a browser sends it: the cookie's UTF-8 bytes.
        raw = f"{SESSION_COOKIE}={cookie}".encode()
        answer = await market.client.get("/console/flow", headers=[(b"cookie", raw)], follow_redirects=False)
        assert answer.status_code in (303, 401, 403), (cookie, answer.status_code)
