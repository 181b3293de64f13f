"""Hosted lead forms (CONTRACT.md, "Hosted lead forms"): a public page posting as its publisher,
making a lead as `POST /v1/leads` does, with the consent evidence the exchange saw itself."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import AsyncTestClient

from exchange.api.app import create_app
from tests.conftest import ADMIN_KEY, Market, auto_insurance_lead, bearer, exchange_settings
from tests.distribution.buyers import FakeBuyer, serve
from tests.processes import free_port, start_server, stop_server

FIXED = {"model": "fixed", "cents_by_grade": {g: 2000 for g in "ABCD"}}
CONSENT = "I agree that Acme Leads may call and text me about auto insurance."
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148"


def token_of(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return html.unescape(found.group(1))


def person(**overrides: Any) -> dict[str, str]:
    """An auto insurance lead as a form sends it: every value text, no consent object."""
    lead = auto_insurance_lead()
    skip = {"consent", "ip_address"}
    values = {k: ("yes" if v is True else str(v)) for k, v in lead.items() if k not in skip}
    return {**values, "consent_given": "yes", **overrides}


async def open_form(market: Market, publisher_id: str, **headers: str) -> tuple[str, str]:
    answer = await market.client.get(f"/forms/{publisher_id}/auto_insurance", headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    return answer.text, token_of(answer.text)


async def test_the_form_shows_the_verticals_fields_and_the_consent_text(market: Market) -> None:
    publisher = await market.publisher(consent_text=CONSENT)
    page, _ = await open_form(market, publisher.id)
    for name in ("first_name", "zip", "date_of_birth", "currently_insured", "vehicle_year", "vehicle_make"):
        assert re.search(rf'<label for="field-{name}">[^<]+<span class="required-mark"', page), name
        assert f'name="{name}"' in page
    assert re.search(r'<label for="field-gender">Gender</label>', page)  # optional: no mark
    assert 'type="checkbox" id="field-consent_given" name="consent_given"' in page
    assert CONSENT in html.unescape(page)
    assert f'action="/forms/{publisher.id}/auto_insurance"' in page
    assert 'name="viewport"' in page
    for filled_by_the_exchange in ("ip_address", "user_agent", "landing_page_url"):
        assert f'name="{filled_by_the_exchange}"' not in page


async def test_a_submission_is_sold_like_a_json_post_with_its_consent_evidence(
    database_url: str, tmp_path: Path
) -> None:
    # The exchange as its own process: the form's sender has a real address.
    port = free_port()
    server = start_server(database_url, port, tmp_path / "server.log")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await sold_with_evidence(Market(client=client, admin=bearer(ADMIN_KEY)))  # type: ignore[arg-type]
    finally:
        stop_server(server)


async def sold_with_evidence(market: Market) -> None:
    publisher = await market.publisher(consent_text=CONSENT)
    buyer = await market.buyer()
    await market.fund(buyer, 10_000)
    _, token = await open_form(market, publisher.id)
    form = person(csrf_token=token, page_url="https://quotes.example.com/auto?utm=spring")
    async with serve(FakeBuyer()) as (fake,):
        await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED)
        answer = await market.client.post(
            f"/forms/{publisher.id}/auto_insurance", data=form, headers={"User-Agent": BROWSER}
        )
        assert answer.status_code == 201, answer.text
        assert fake.posts and fake.posts[0].fields()["vehicle_make"] == "Toyota"
        json_post = await market.post_lead(publisher, auto_insurance_lead())
        assert json_post.status_code == 201 and json_post.json()["status"] == "sold"
    lead_id = re.search(r'id="result-reference">([^<]+)<', answer.text)
    assert lead_id, answer.text
    lead = (await market.client.get(f"/v1/leads/{lead_id.group(1)}", headers=market.admin)).json()
    assert lead["status"] == "sold" and lead["publisher_id"] == publisher.id
    assert lead["sales"][0]["price_cents"] == 2000
    assert lead["fields"]["email"] == form["email"] and lead["fields"]["vehicle_year"] == 2019
    assert lead["fields"]["ip_address"] == "127.0.0.1"
    assert lead["fields"]["user_agent"] == BROWSER
    assert lead["fields"]["landing_page_url"] == form["page_url"]
    assert lead["consent"]["text"] == CONSENT and lead["consent"]["timestamp"]
    events = (await market.client.get(f"/v1/leads/{lead['id']}/events", headers=market.admin)).json()
    received = next(e for e in events["items"] if e["kind"] == "received")
    evidence = received["data"]["consent_evidence"]
    assert received["data"]["channel"] == "hosted_form"
    assert evidence["text"] == CONSENT and evidence["at"]
    assert evidence["ip_address"] == "127.0.0.1" and evidence["user_agent"] == BROWSER
    assert evidence["page_url"] == form["page_url"]


async def test_the_page_url_comes_from_the_referer_without_a_hidden_field(market: Market) -> None:
    publisher = await market.publisher()
    _, token = await open_form(market, publisher.id)
    referer = "https://www.example.org/get-a-quote"
    answer = await market.client.post(
        f"/forms/{publisher.id}/auto_insurance",
        data=person(csrf_token=token),
        headers={"Referer": referer},
    )
    assert answer.status_code == 201, answer.text
    lead_id = re.search(r'id="result-reference">([^<]+)<', answer.text)
    assert lead_id
    lead = (await market.client.get(f"/v1/leads/{lead_id.group(1)}", headers=market.admin)).json()
    assert lead["status"] == "unsold"
    assert lead["fields"]["landing_page_url"] == referer
    # No consent text of its own: the form showed the exchange's, and that is what is kept.
    assert "agree to be contacted" in lead["consent"]["text"]


async def test_a_missing_field_comes_back_beside_its_input(market: Market) -> None:
    publisher = await market.publisher()
    _, token = await open_form(market, publisher.id)
    answer = await market.client.post(
        f"/forms/{publisher.id}/auto_insurance", data=person(csrf_token=token, vehicle_year="")
    )
    assert answer.status_code == 422, answer.text
    page = answer.text
    assert re.search(r'id="field-vehicle_year" name="vehicle_year" value=""[^>]*aria-invalid="true"', page)
    assert re.search(r'<p class="error" id="error-vehicle_year">is required</p>', page)
    assert 'value="Toyota"' in page  # what was typed is kept
    assert token_of(page)  # a fresh token to send it again
    unticked = person(csrf_token=token, vehicle_year="")
    del unticked["consent_given"]
    answer = await market.client.post(f"/forms/{publisher.id}/auto_insurance", data=unticked)
    assert answer.status_code == 422
    # Both at once: the box to tick and the field left empty.
    assert 'id="error-consent_given"' in answer.text
    assert '<p class="error" id="error-vehicle_year">is required</p>' in answer.text
    listed = (await market.client.get("/v1/leads", headers=market.admin)).json()["items"]
    assert [lead["status"] for lead in listed] == ["rejected"]  # the unticked form stored nothing


async def test_a_missing_forged_or_expired_token_is_refused(market: Market, clock: Any) -> None:
    publisher = await market.publisher()
    other = await market.publisher(name="Other Leads")
    _, token = await open_form(market, publisher.id)
    _, others = await open_form(market, other.id)
    path = f"/forms/{publisher.id}/auto_insurance"
    forged = ({"csrf_token": "1999999999.forged"}, {"csrf_token": "¹9.é"}, {"csrf_token": others})
    for sent in ({}, *forged):
        answer = await market.client.post(path, data=person(**sent))
        assert answer.status_code == 403, sent
        assert "reload" in answer.text
    clock.advance(hours=5)
    assert (await market.client.post(path, data=person(csrf_token=token))).status_code == 403
    assert (await market.client.get("/v1/leads", headers=market.admin)).json()["items"] == []


async def test_an_unknown_publisher_or_vertical_is_404(market: Market) -> None:
    publisher = await market.publisher()
    for path in (
        "/forms/pub_nope/auto_insurance",
        f"/forms/{publisher.id}/no_such_vertical",
        "/forms/pub_nope/auto_insurance.js",
    ):
        answer = await market.client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
    answer = await market.client.post(f"/forms/{publisher.id}/no_such_vertical", data={"csrf_token": "x"})
    assert answer.status_code == 404


async def test_the_script_embeds_the_form(market: Market) -> None:
    publisher = await market.publisher()
    answer = await market.client.get(f"/forms/{publisher.id}/auto_insurance.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/javascript")
    script = answer.text
    assert f'/forms/{publisher.id}/auto_insurance"' in script
    assert "createElement('iframe')" in script and "insertBefore" in script
    assert "encodeURIComponent(location.href)" in script  # the page it is on, for the evidence
    framed = await market.client.get(
        f"/forms/{publisher.id}/auto_insurance", params={"page_url": "https://blog.example.net/cars"}
    )
    assert 'name="page_url" value="https://blog.example.net/cars"' in framed.text


async def test_submissions_are_limited_per_address(database_url: str) -> None:
    settings = exchange_settings(database_url, address_rate_per_second=0.01, address_burst=3)
    async with AsyncTestClient(app=create_app(settings)) as client:
        market = Market(client=client, admin=bearer(ADMIN_KEY))
        publisher = await market.publisher()
        _, token = await open_form(market, publisher.id)
        codes = []
        for _ in range(6):
            answer = await client.post(f"/forms/{publisher.id}/auto_insurance", data={"csrf_token": token})
            codes.append(answer.status_code)
        # The burst, then refused: counted per address before the form is read.
        first_refused = codes.index(429)
        assert first_refused >= 3 and set(codes[:first_refused]) == {422}
        assert set(codes[first_refused:]) == {429}
        assert int(answer.headers["Retry-After"]) >= 1
