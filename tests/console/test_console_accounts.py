"""Console pages for accounts and keys: operators create publishers, buyers and keys and revoke
keys from pages; finance reads the accounts; a publisher or a buyer reaches its own account page
only. Every change is the API's own: it reads back through the API, audit included."""

from __future__ import annotations

import html
import re

import pytest

from tests.conftest import ADMIN_KEY, Market, bearer
from tests.console.test_console import sign_in
from tests.console.test_console_pages import _finance_key, _form_post

_SHOWN_KEY = re.compile(r'id="new-api-key"[^>]*value="(lx_[^"]+)"')
_SHOWN_KEY_ID = re.compile(r'id="new-key-id">(key_[^<]+)<')


def shown_key(html: str) -> tuple[str, str]:
    """The key and its id, as the page that made them shows them once."""
    key, key_id = _SHOWN_KEY.search(html), _SHOWN_KEY_ID.search(html)
    assert key is not None and key_id is not None, html[:3000]
    return key.group(1), key_id.group(1)


@pytest.mark.parametrize(
    ("role", "accounts", "keys"),
    [("operator", 200, 200), ("finance", 200, 403), ("buyer", 403, 403), ("publisher", 403, 403)],
)
async def test_accounts_and_keys_open_for_the_roles_that_may_see_them(
    market: Market, role: str, accounts: int, keys: int
) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    key = {"operator": ADMIN_KEY, "finance": await _finance_key(market)}
    key |= {"publisher": publisher.key, "buyer": buyer.key}
    await sign_in(market.client, key[role])
    listed = await market.client.get("/console/accounts")
    assert listed.status_code == accounts, listed.text[:300]
    assert (await market.client.get("/console/keys")).status_code == keys
    if accounts == 200:
        assert publisher.id in listed.text and buyer.id in listed.text
        # Only an operator gets the forms that create accounts.
        assert ('id="new-publisher-form"' in listed.text) == (role == "operator")
    home = (await market.client.get("/console/leads")).text
    assert ('href="/console/accounts"' in home) == (accounts == 200)
    assert ('href="/console/keys"' in home) == (keys == 200)


async def test_a_publisher_and_a_buyer_reach_their_own_account_page_and_no_other(market: Market) -> None:
    publisher, other = await market.publisher(), await market.publisher(name="Other Leads")
    buyer = await market.buyer()
    for account, elsewhere in ((publisher, other.id), (buyer, publisher.id)):
        await sign_in(market.client, account.key)
        home = (await market.client.get("/console/leads")).text
        assert f'href="/console/accounts/{account.id}"' in home  # "My account"
        own = await market.client.get(f"/console/accounts/{account.id}")
        assert own.status_code == 200 and 'id="details"' in own.text
        assert 'id="keys-table"' not in own.text  # the API lists keys to operators only
        assert (await market.client.get(f"/console/accounts/{elsewhere}")).status_code in (403, 404)
    await sign_in(market.client, publisher.key)
    own = (await market.client.get(f"/console/accounts/{publisher.id}")).text
    assert "70% of each sale" in own and f"/forms/{publisher.id}/auto_insurance" in own


async def test_an_operator_creates_a_publisher_whose_key_is_shown_once_and_works(market: Market) -> None:
    await sign_in(market.client, ADMIN_KEY)
    made = await _form_post(
        market,
        "/console/accounts",
        "/console/accounts",
        kind="publisher",
        name="Quote Leads LLC",
        **{"payout.model": "fixed", "payout.cents_by_grade.A": "1500", "payout.cents_by_grade.B": "900"},
        default_vertical="auto_insurance",
        consent_text="I agree to be contacted.",
        **{"rate_limit.per_second": "5", "rate_limit.burst": "10"},
    )
    assert made.status_code == 201, made.text[:2000]
    assert "no-store" in made.headers["cache-control"]
    key, key_id = shown_key(made.text)

    me = await market.client.get("/v1/me", headers=bearer(key))
    assert me.status_code == 200 and me.json()["role"] == "publisher"
    publisher_id = me.json()["publisher_id"]
    stored = (await market.client.get(f"/v1/publishers/{publisher_id}", headers=market.admin)).json()
    assert stored["payout"] == {"model": "fixed", "cents_by_grade": {"A": 1500, "B": 900}}
    assert stored["default_vertical"] == "auto_insurance"
    assert stored["rate_limit"] == {"per_second": 5.0, "burst": 10}
    audit = await market.client.get("/v1/audit", params={"entity_id": publisher_id}, headers=market.admin)
    assert [row["action"] for row in audit.json()["items"]] == ["publisher.create"]

    # Listed, with its key by id only, never the key itself.
    listed = (await market.client.get("/console/accounts")).text
    assert publisher_id in listed
    account = (await market.client.get(f"/console/accounts/{publisher_id}")).text
    assert key_id in account and key not in account
    assert key not in (await market.client.get("/console/keys")).text


@pytest.mark.parametrize(
    ("fields", "field", "said"),
    [
        ({"payout.model": "revshare", "payout.percent": "150"}, "payout.percent", "100"),
        ({"payout.model": "revshare", "payout.percent": "ten"}, "payout.percent", "whole number"),
        ({"payout.model": "revshare", "payout.percent": "50", "field_mapping": "{"}, "field_mapping", "JSON"),
        (
            {"payout.model": "fixed", "payout.cents_by_grade.A": "-5"},
            "payout.cents_by_grade.A",
            ">= 0",
        ),
    ],
)
async def test_a_bad_publisher_form_comes_back_marked_and_writes_nothing(
    market: Market, fields: dict[str, str], field: str, said: str
) -> None:
    await sign_in(market.client, ADMIN_KEY)
    before = (await market.client.get("/v1/publishers", headers=market.admin)).json()["items"]
    answer = await _form_post(
        market, "/console/accounts", "/console/accounts", kind="publisher", name="Bad Terms", **fields
    )
    assert answer.status_code == 422, answer.text[:1000]
    error = re.search(rf'<span class="problem" id="err-{re.escape(field)}"[^>]*>([^<]*)<', answer.text)
    assert error is not None and said in html.unescape(error.group(1)), answer.text[:3000]
    if field != "field_mapping":  # a text area, described by its help and error
        tag = re.search(rf'<input id="np-{re.escape(field)}"[^>]*>', answer.text)
        assert tag is not None and 'aria-invalid="true"' in tag.group(0)
        assert f"err-{field}" in tag.group(0)  # aria-describedby names the error
    assert 'value="Bad Terms"' in answer.text  # what was typed comes back
    after = (await market.client.get("/v1/publishers", headers=market.admin)).json()["items"]
    assert after == before


async def test_an_operator_creates_a_buyer_and_a_bad_time_zone_is_named(market: Market) -> None:
    await sign_in(market.client, ADMIN_KEY)
    bad = await _form_post(
        market, "/console/accounts", "/console/accounts", kind="buyer", name="Acme", timezone="Mars/Base"
    )
    assert bad.status_code == 422
    assert re.search(r'id="err-timezone"[^>]*>[^<]*not an IANA time zone', bad.text), bad.text[:3000]
    made = await _form_post(
        market,
        "/console/accounts",
        "/console/accounts",
        kind="buyer",
        name="Acme",
        timezone="America/Chicago",
        credit_limit_cents="50000",
    )
    assert made.status_code == 201
    key, _ = shown_key(made.text)
    me = (await market.client.get("/v1/me", headers=bearer(key))).json()
    buyer = (await market.client.get(f"/v1/buyers/{me['buyer_id']}", headers=market.admin)).json()
    assert (buyer["timezone"], buyer["credit_limit_cents"]) == ("America/Chicago", 50000)


async def test_keys_are_made_and_revoked_from_pages_and_revoking_works_at_once(market: Market) -> None:
    publisher = await market.publisher()
    await sign_in(market.client, ADMIN_KEY)
    made = await _form_post(
        market, "/console/keys", "/console/keys", role="finance", name="Books", account_id=""
    )
    assert made.status_code == 201 and "no-store" in made.headers["cache-control"]
    finance_key, finance_id = shown_key(made.text)
    assert (await market.client.get("/v1/me", headers=bearer(finance_key))).json()["role"] == "finance"

    # A staff key with an account, or an account key without one, is refused beside the field.
    wrong = await _form_post(
        market, "/console/keys", "/console/keys", role="operator", name="x", account_id=publisher.id
    )
    assert wrong.status_code == 422 and 'id="err-account_id"' in wrong.text
    missing = await _form_post(market, "/console/keys", "/console/keys", role="buyer", name="x")
    assert missing.status_code == 422 and "names its buyer" in missing.text

    # A second key for the publisher, from its account page.
    page = f"/console/accounts/{publisher.id}"
    second = await _form_post(
        market, page, "/console/keys", role="publisher", name="Rotation", account_id=publisher.id
    )
    assert second.status_code == 201
    second_key, second_id = shown_key(second.text)
    assert (await market.client.get("/v1/me", headers=bearer(second_key))).json()[
        "publisher_id"
    ] == publisher.id
    account = (await market.client.get(page)).text
    assert f'id="revoke-{second_id}"' in account

    # Revoked from the account page: back there, the key shows revoked and answers 401 at once.
    gone = await _form_post(market, page, f"/console/keys/{second_id}/revoke", back=page)
    assert gone.status_code == 303 and gone.headers["location"] == page
    assert (await market.client.get("/v1/me", headers=bearer(second_key))).status_code == 401
    assert "revoked" in (await market.client.get(page)).text.split(f'id="key-status-{second_id}"')[1][:80]
    # Revoked from the list; `back` never leaves the console.
    away = await _form_post(
        market, "/console/keys", f"/console/keys/{finance_id}/revoke", back="https://elsewhere.example/"
    )
    assert away.headers["location"] == "/console/keys"
    assert (await market.client.get("/v1/me", headers=bearer(finance_key))).status_code == 401
    actions = (
        await market.client.get("/v1/audit", params={"entity_id": finance_id}, headers=market.admin)
    ).json()
    assert [row["action"] for row in actions["items"]] == ["key.revoke", "key.create"]


async def test_a_key_form_without_its_token_makes_nothing(market: Market) -> None:
    await sign_in(market.client, ADMIN_KEY)
    before = (await market.client.get("/v1/keys", headers=market.admin)).json()["items"]
    answer = await market.client.post("/console/keys", data={"role": "operator", "name": "sneaky"})
    assert answer.status_code == 403
    assert (await market.client.get("/v1/keys", headers=market.admin)).json()["items"] == before


async def test_revoking_the_key_one_is_signed_in_with_ends_the_session(market: Market) -> None:
    await sign_in(market.client, ADMIN_KEY)
    made = await _form_post(market, "/console/keys", "/console/keys", role="operator", name="Ops 2")
    key, key_id = shown_key(made.text)
    await sign_in(market.client, key)
    listed = (await market.client.get("/console/keys")).text
    assert "(yours)" in listed.split(f'id="revoke-{key_id}"')[1][:200]
    await _form_post(market, "/console/keys", f"/console/keys/{key_id}/revoke")
    after = await market.client.get("/console/keys", follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"] == "/console/sign-in"
