"""Console pages for campaigns, returns, deliveries and "why not sold": each role sees what the
API shows it, and every change made from a page is the API's own (it reads back through the API)."""

from __future__ import annotations

import asyncio
import html
import json
import re
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY, Account, Market, auto_insurance_lead
from tests.console.test_console import csrf_of, sign_in
from tests.distribution.buyers import FakeBuyer, serve

FIXED = {"model": "fixed", "cents_by_grade": {g: 2000 for g in "ABCD"}}


async def _form_post(market: Market, page: str, action: str, **fields: str) -> Any:
    """Submit a form the way a browser does: with the token of the page it is on."""
    shown = await market.client.get(page)
    assert shown.status_code == 200, shown.text[:400]
    assert f'action="{action}"' in shown.text, (action, shown.text[:2000])
    data = {"csrf_token": csrf_of(shown.text), **fields}
    return await market.client.post(action, data=data, follow_redirects=False)


async def _finance_key(market: Market) -> str:
    answer = await market.client.post(
        "/v1/keys", json={"role": "finance", "name": "books"}, headers=market.admin
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["api_key"])


async def _sold_lead(market: Market, publisher: Account, buyer: Account, **campaign: Any) -> tuple[str, str]:
    """A lead sold to a fixed-price campaign of the buyer: (lead id, campaign id)."""
    async with serve(FakeBuyer()) as (fake,):
        made = await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED, **campaign)
        answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.json()["status"] == "sold", answer.text
    return answer.json()["lead_id"], made["id"]


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("operator", {"/console/campaigns", "/console/returns", "/console/deliveries"}),
        ("finance", {"/console/returns"}),
        ("buyer", {"/console/campaigns", "/console/returns"}),
        ("publisher", set()),
    ],
)
async def test_each_page_opens_for_the_roles_that_may_see_it_only(
    market: Market, role: str, allowed: set[str]
) -> None:
    keys = {"operator": ADMIN_KEY, "finance": await _finance_key(market)}
    keys["buyer"], keys["publisher"] = (await market.buyer()).key, (await market.publisher()).key
    await sign_in(market.client, keys[role])
    home = await market.client.get("/console/leads")
    for path in ("/console/campaigns", "/console/returns", "/console/deliveries"):
        answer = await market.client.get(path)
        assert answer.status_code == (200 if path in allowed else 403), (role, path, answer.text[:300])
        # The layout's navigation offers exactly the pages the role may open.
        assert (f'href="{path}"' in home.text) == (path in allowed), (role, path)


async def test_a_buyer_sees_and_manages_its_own_campaigns_only(market: Market) -> None:
    buyer, other = await market.buyer(), await market.buyer(name="Other Insurance")
    async with serve(FakeBuyer()) as (fake,):
        mine = await market.campaign(
            buyer, fake.delivery(bid=False), name="Mine", caps=[{"period": "day", "max_leads": 5}]
        )
        theirs = await market.campaign(other, fake.delivery(bid=False), name="Theirs")

    await sign_in(market.client, buyer.key)
    listed = await market.client.get("/console/campaigns")
    row = listed.text.split(f'id="campaign-{mine["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert "0 of 5 leads" in row and "$20.00" in row  # the cap's use today and the pricing
    assert theirs["id"] not in listed.text
    assert (await market.client.get(f"/console/campaigns/{theirs['id']}")).status_code == 404
    refused = await _form_post(market, "/console/campaigns", f"/console/campaigns/{mine['id']}/pause")
    assert refused.status_code == 303
    other_pause = await market.client.post(
        f"/console/campaigns/{theirs['id']}/pause", data={"csrf_token": csrf_of(listed.text)}
    )
    assert other_pause.status_code == 404
    assert (await market.client.get(f"/v1/campaigns/{theirs['id']}", headers=market.admin)).json()["active"]


async def test_pause_from_the_page_stops_the_campaign_and_resume_starts_it(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer()) as (fake,):
        campaign = await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED)
        cid = campaign["id"]
        await sign_in(market.client, ADMIN_KEY)
        paused = await _form_post(market, "/console/campaigns", f"/console/campaigns/{cid}/pause")
        assert paused.status_code == 303
        api = await market.client.get(f"/v1/campaigns/{cid}", headers=market.admin)
        assert api.json()["active"] is False
        page = await market.client.get("/console/campaigns")
        assert f'id="campaign-status-{cid}">paused<' in page.text and f'id="resume-{cid}"' in page.text
        # Paused, it buys nothing.
        unsold = await market.post_lead(publisher, auto_insurance_lead())
        assert unsold.json()["status"] == "unsold" and not fake.posts

        resumed = await _form_post(market, "/console/campaigns", f"/console/campaigns/{cid}/resume")
        assert resumed.status_code == 303
        assert (await market.client.get(f"/v1/campaigns/{cid}", headers=market.admin)).json()[
            "active"
        ] is True
        sold = await market.post_lead(publisher, auto_insurance_lead())
        assert sold.json()["status"] == "sold", sold.text


async def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(market: Market) -> None:
    buyer = await market.buyer()
    async with serve(FakeBuyer()) as (fake,):
        cid = (await market.campaign(buyer, fake.delivery(bid=False)))["id"]
    await sign_in(market.client, ADMIN_KEY)
    for data in ({}, {"csrf_token": "forged"}):
        answer = await market.client.post(
            f"/console/campaigns/{cid}/pause", data=data, follow_redirects=False
        )
        assert answer.status_code == 403 and "CSRF" in answer.text
    assert (await market.client.get(f"/v1/campaigns/{cid}", headers=market.admin)).json()["active"] is True


async def test_the_edit_form_saves_through_the_api_and_shows_its_errors_beside_the_fields(
    market: Market,
) -> None:
    buyer = await market.buyer()
    async with serve(FakeBuyer()) as (fake,):
        cid = (await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED))["id"]
    await sign_in(market.client, buyer.key)
    page = f"/console/campaigns/{cid}"
    fields = {
        "name": "Evenings",
        "pricing.model": "fixed",
        "pricing.cents_by_grade.A": "3100",
        "caps[0].period": "day",
        "caps[0].max_leads": "-1",
        "schedule.timezone": "America/New_York",
        "schedule.hours.mon": "18:00-22:00",
        "filters[0].field": "state",
        "filters[0].op": "in",
        "filters[0].value": "CA, NV",
    }
    wrong = await _form_post(market, page, page, **fields)
    assert wrong.status_code == 422
    problems = re.findall(r'data-field="([^"]+)">([^<]*)<', wrong.text)
    # The API's own message, beside the field it names.
    assert [field for field, message in problems if "&gt;= 0" in message] == ["caps[0].max_leads"], problems
    assert 'value="Evenings"' in wrong.text  # what was typed stays
    unchanged = (await market.client.get(f"/v1/campaigns/{cid}", headers=buyer.auth)).json()
    assert unchanged.get("name") != "Evenings" and unchanged["caps"] == []

    saved = await _form_post(market, page, page, **{**fields, "caps[0].max_leads": "40"})
    assert saved.status_code == 303
    after = (await market.client.get(f"/v1/campaigns/{cid}", headers=buyer.auth)).json()
    assert after["name"] == "Evenings" and after["caps"] == [{"period": "day", "max_leads": 40}]
    assert after["pricing"] == {"model": "fixed", "cents_by_grade": {"A": 3100}}
    assert after["schedule"] == {"timezone": "America/New_York", "hours": {"mon": ["18:00-22:00"]}}
    assert after["filters"] == [{"field": "state", "op": "in", "value": ["CA", "NV"]}]


async def test_a_buyer_creates_a_campaign_for_itself_from_the_form(market: Market) -> None:
    buyer = await market.buyer()
    await sign_in(market.client, buyer.key)
    async with serve(FakeBuyer()) as (fake,):
        made = await _form_post(
            market,
            "/console/campaigns/new",
            "/console/campaigns/new",
            name="From the console",
            vertical="auto_insurance",
            delivery=json.dumps(fake.delivery(bid=False)),
            **{"pricing.model": "fixed", "pricing.cents_by_grade.B": "1500"},
        )
    assert made.status_code == 303, made.text[-2000:]
    cid = made.headers["location"].rsplit("/", 1)[1]
    created = (await market.client.get(f"/v1/campaigns/{cid}", headers=buyer.auth)).json()
    assert created["buyer_id"] == buyer.id and created["name"] == "From the console"


async def test_a_buyer_returns_a_lead_from_its_list_and_an_operator_approves_it(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    lead_id, _ = await _sold_lead(market, publisher, buyer)

    await sign_in(market.client, buyer.key)
    listed = await market.client.get("/console/leads")
    assert f'id="return-form-{lead_id}"' in listed.text
    filed = await _form_post(
        market, "/console/leads", f"/console/leads/{lead_id}/return", reason="bad_phone", note="disconnected"
    )
    assert filed.status_code == 303 and filed.headers["location"] == "/console/returns"
    [ret] = (await market.client.get("/v1/returns", headers=buyer.auth)).json()["items"]
    mine = await market.client.get("/console/returns")
    assert (
        f'id="return-status-{ret["id"]}">pending<' in mine.text
        and f'id="approve-{ret["id"]}"' not in mine.text
    )
    assert f'id="return-form-{lead_id}"' not in (await market.client.get("/console/leads")).text

    await sign_in(market.client, ADMIN_KEY)
    queue = await market.client.get("/console/returns")
    assert f'id="approve-{ret["id"]}"' in queue.text and f'id="reject-{ret["id"]}"' in queue.text
    decided = await _form_post(
        market,
        "/console/returns",
        f"/console/returns/{ret['id']}/decision",
        decision="approve",
        note="confirmed",
    )
    assert decided.status_code == 303
    lead = (await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)).json()
    assert lead["status"] == "returned"
    after = await market.client.get("/console/returns")
    assert f'id="return-status-{ret["id"]}">approved<' in after.text and "confirmed" in after.text


async def test_the_delivery_audit_filters_and_resends_a_failed_post(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer(accept=False)) as (fake,):
        cid = (await market.campaign(buyer, fake.delivery(bid=False), pricing=FIXED))["id"]
        lead_id = (await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"]
        await sign_in(market.client, ADMIN_KEY)
        audit = await market.client.get("/console/deliveries", params={"campaign": cid, "status": "rejected"})
        assert audit.status_code == 200 and lead_id in audit.text and 'class="delivery-request"' in audit.text
        [post_id] = re.findall(r'id="resend-(dlv_[^"]+)"', audit.text)
        other = await market.client.get("/console/deliveries", params={"buyer": "buy_nobody"})
        assert lead_id not in other.text
        assert (
            await market.client.get("/console/deliveries", params={"since": "yesterday"})
        ).status_code == 422

        fake.accept = True
        query = f"/console/deliveries?campaign={cid}"
        resent = await _form_post(market, query, f"/console/deliveries/{post_id}/resend")
        assert resent.status_code == 303
        for _ in range(100):
            if len(fake.posts) == 2:
                break
            await asyncio.sleep(0.05)
    assert len(fake.posts) == 2


async def test_the_explain_page_names_the_cap_that_stopped_an_unsold_lead(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer()) as (fake,):
        cid = (
            await market.campaign(
                buyer, fake.delivery(bid=False), pricing=FIXED, caps=[{"period": "day", "max_leads": 1}]
            )
        )["id"]
        assert (await market.post_lead(publisher, auto_insurance_lead())).json()["status"] == "sold"
        unsold = (await market.post_lead(publisher, auto_insurance_lead())).json()
    assert unsold["status"] == "unsold", unsold
    lead_id = unsold["lead_id"]

    await sign_in(market.client, ADMIN_KEY)
    lead_page = await market.client.get(f"/console/leads/{lead_id}")
    assert f'href="/console/leads/{lead_id}/explain"' in lead_page.text
    page = await market.client.get(f"/console/leads/{lead_id}/explain")
    assert page.status_code == 200 and 'id="explain-table"' in page.text
    row = page.text.split(f'id="explain-{cid}"', 1)[1].split("</tr>", 1)[0]
    assert "day cap full: 1 of 1 leads" in row
    assert 'id="explain-at-sale"' in page.text

    await sign_in(market.client, publisher.key)
    anonymous = await market.client.get(f"/console/leads/{lead_id}/explain")
    assert anonymous.status_code == 200 and 'id="explain-table"' in anonymous.text
    assert "cap full" in anonymous.text and cid not in anonymous.text and buyer.id not in anonymous.text
    stranger = await market.publisher(name="Other Leads")
    await sign_in(market.client, stranger.key)
    assert (await market.client.get(f"/console/leads/{lead_id}/explain")).status_code == 404


async def test_a_buyer_builds_a_bid_campaigns_delivery_from_plain_fields_and_it_sells(market: Market) -> None:
    """No JSON typed: the ping's and the post's addresses and answer rules, then a lead sells
    through exactly what the form made."""
    publisher, buyer = await market.publisher(), await market.buyer()
    await market.fund(buyer, 100_000)
    async with serve(FakeBuyer(bid=14.0)) as (fake,):
        url = fake.delivery()["post"]["url"].removesuffix("/post")
        await sign_in(market.client, buyer.key)
        made = await _form_post(
            market,
            "/console/campaigns/new",
            "/console/campaigns/new",
            name="Built by hand",
            vertical="auto_insurance",
            **{
                "pricing.model": "bid",
                "pricing.floor_cents": "100",
                "delivery.kind": "http",
                "delivery.post.url": f"{url}/post",
                "delivery.post.format": "json",
                "delivery.post.response.format": "json",
                "delivery.post.response.accepted.path": "status",
                "delivery.post.response.accepted.equals": "ok",
                "delivery.ping.url": f"{url}/ping",
                "delivery.ping.format": "json",
                "delivery.ping.response.format": "json",
                "delivery.ping.response.accepted.path": "status",
                "delivery.ping.response.accepted.equals": "ok",
                "delivery.ping.response.price": "bid",
            },
        )
        assert made.status_code == 303, made.text[:3000]
        campaign_id = made.headers["location"].rsplit("/", 1)[1]
        stored = (await market.client.get(f"/v1/campaigns/{campaign_id}", headers=market.admin)).json()
        rule = {"format": "json", "accepted": {"path": "status", "equals": "ok"}}
        assert stored["delivery"] == {
            "adapter": "http",
            "post": {"url": f"{url}/post", "format": "json", "response": rule},
            "ping": {"url": f"{url}/ping", "format": "json", "response": {**rule, "price": "bid"}},
        }
        sold = await market.post_lead(publisher, auto_insurance_lead())
    assert sold.json()["status"] == "sold", sold.text
    lead = await market.client.get(f"/v1/leads/{sold.json()['lead_id']}", headers=market.admin)
    assert [(sale["campaign_id"], sale["price_cents"]) for sale in lead.json()["sales"]] == [
        (campaign_id, 1400)
    ]

    # Read back, the form shows the plain fields, and saving it untouched changes nothing.
    page = (await market.client.get(f"/console/campaigns/{campaign_id}")).text
    assert re.search(r'<option value="http" selected>', page)
    assert f'value="{url}/ping"' in page
    saved = await _form_post(
        market,
        f"/console/campaigns/{campaign_id}",
        f"/console/campaigns/{campaign_id}",
        **_shown_values(page),
    )
    assert saved.status_code == 303, saved.text[:2000]
    after = (await market.client.get(f"/v1/campaigns/{campaign_id}", headers=market.admin)).json()
    assert after["delivery"] == stored["delivery"]
    audit = await market.client.get("/v1/audit", params={"entity_id": campaign_id}, headers=market.admin)
    changed = [row for row in audit.json()["items"] if row["action"] == "campaign.update"]
    assert all("delivery" not in (row.get("after") or {}) for row in changed), changed


def _shown_values(page: str) -> dict[str, str]:
    """The form's fields as a browser would send them untouched: inputs, selected options, text."""
    form = page.split('id="campaign-form"', 1)[1].split("</form>", 1)[0]
    values: dict[str, str] = {}
    for tag in re.findall(r"<input [^>]*>", form):
        name, value = re.search(r'name="([^"]+)"', tag), re.search(r'value="([^"]*)"', tag)
        if name and name.group(1) != "csrf_token":
            values[name.group(1)] = html.unescape(value.group(1)) if value else ""
    for name, options in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option(?: value="([^"]*)")? selected>([^<]*)<', options)
        if chosen:
            values[name] = html.unescape(chosen.group(1) or chosen.group(2))
    for name, body in re.findall(r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', form, re.S):
        values[name] = html.unescape(body)
    return values


async def test_a_plain_delivery_field_the_api_refuses_is_marked_beside_it(market: Market) -> None:
    buyer = await market.buyer()
    await sign_in(market.client, buyer.key)
    answer = await _form_post(
        market,
        "/console/campaigns/new",
        "/console/campaigns/new",
        vertical="auto_insurance",
        **{
            "pricing.model": "fixed",
            "pricing.cents_by_grade.A": "1000",
            "delivery.kind": "http",
            "delivery.post.url": "ftp://buyer.example/leads",
        },
    )
    assert answer.status_code == 422
    error = re.search(r'id="err-delivery\.post\.url"[^>]*>([^<]+)<', answer.text)
    assert error is not None, answer.text[:4000]
    tag = re.search(r'<input id="f-delivery\.post\.url"[^>]*>', answer.text)
    assert tag is not None and 'aria-invalid="true"' in tag.group(0)
    listed = await market.client.get("/v1/campaigns", headers=market.admin)
    assert listed.json()["items"] == []


async def test_a_delivery_the_plain_fields_cannot_say_is_shown_and_kept_as_json(market: Market) -> None:
    buyer = await market.buyer()
    async with serve(FakeBuyer()) as (fake,):
        made = await market.campaign(
            buyer, fake.delivery(bid=False), pricing=FIXED
        )  # a timeout_ms, a reference
    await sign_in(market.client, buyer.key)
    page = (await market.client.get(f"/console/campaigns/{made['id']}")).text
    assert '<option value="json" selected>' in page
    shown = _shown_values(page)
    assert json.loads(shown["delivery"]) == made["delivery"]
    shown["caps[0].max_leads"] = "7"
    saved = await _form_post(
        market, f"/console/campaigns/{made['id']}", f"/console/campaigns/{made['id']}", **shown
    )
    assert saved.status_code == 303, saved.text[:2000]
    after = (await market.client.get(f"/v1/campaigns/{made['id']}", headers=market.admin)).json()
    assert after["delivery"] == made["delivery"] and after["caps"][0]["max_leads"] == 7


async def test_the_lead_list_filters_and_pages_within_what_the_role_may_see(market: Market) -> None:
    publisher, other = await market.publisher(), await market.publisher(name="Other Leads")
    mine = [
        (await market.post_lead(publisher, auto_insurance_lead(sub_id=f"s{n % 2}"))).json() for n in range(5)
    ]
    theirs = (await market.post_lead(other, auto_insurance_lead())).json()
    await sign_in(market.client, publisher.key)
    # Its own leads only, whatever the filter asks: a publisher has no publisher filter.
    page = (await market.client.get("/console/leads", params={"publisher": other.id})).text
    assert theirs["lead_id"] not in page and 'id="leads-publisher"' not in page
    only = (await market.client.get("/console/leads", params={"sub_id": "s1"})).text
    expected = {lead["lead_id"] for n, lead in enumerate(mine) if n % 2 == 1}
    assert set(re.findall(r'id="lead-(lead_[a-z0-9]+)"', only)) == expected
    bad = await market.client.get("/console/leads", params={"status": "sideways"})
    assert bad.status_code == 422 and "status must be one of" in html.unescape(bad.text)
    backwards = await market.client.get(
        "/console/leads", params={"since": "2026-12-02", "until": "2026-12-01"}
    )
    assert backwards.status_code == 422

    await sign_in(market.client, ADMIN_KEY)
    seen: list[str] = []
    address: str | None = "/console/leads?sub_id=s0&limit=1"  # a page of one, to page
    while address:
        shown = (await market.client.get(address)).text
        seen += re.findall(r'id="lead-(lead_[a-z0-9]+)"', shown)
        link = re.search(r'<a href="([^"]+)" id="leads-older">', shown)
        address = html.unescape(link.group(1)) if link else None
        if address:
            assert "sub_id=s0" in address and "limit=1" in address  # the next page keeps them
    assert seen == [lead["lead_id"] for n, lead in reversed(list(enumerate(mine))) if n % 2 == 0]


async def test_a_webhook_campaign_made_in_the_console_shows_its_signing_secret_once(market: Market) -> None:
    buyer = await market.buyer()
    await sign_in(market.client, buyer.key)
    delivery = {"adapter": "webhook", "url": "https://hooks.buyer.example/leads"}
    made = await _form_post(
        market,
        "/console/campaigns/new",
        "/console/campaigns/new",
        vertical="auto_insurance",
        delivery=json.dumps(delivery),
        **{"delivery.kind": "json", "pricing.model": "fixed", "pricing.cents_by_grade.A": "1000"},
    )
    assert made.status_code == 200 and "no-store" in made.headers["cache-control"], made.text[:2000]
    secret = re.search(r'id="new-webhook-secret"[^>]*value="(whsec_[^"]+)"', made.text)
    assert secret is not None, made.text[:3000]
    campaign_id = re.search(r'href="/console/campaigns/(cmp_[a-z0-9]+)" id="to-campaign"', made.text)
    assert campaign_id is not None
    # Gone once left: neither the campaign's page nor the API shows it again.
    page = (await market.client.get(f"/console/campaigns/{campaign_id.group(1)}")).text
    stored = await market.client.get(f"/v1/campaigns/{campaign_id.group(1)}", headers=market.admin)
    assert secret.group(1) not in page and secret.group(1) not in stored.text
