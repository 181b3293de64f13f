"""The audit log (`GET /v1/audit`): every change an operator, finance or buyer key makes, who
made it and from where, the changed fields before and after, secrets masked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from exchange.api.auth import Principal
from exchange.audit import MASK, changed_fields, masked, record_change
from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import Account, Market, auto_insurance_lead, bearer
from tests.distribution.buyers import FakeBuyer, serve

FIXED = {"model": "fixed", "cents_by_grade": {g: 2000 for g in "ABCD"}}
HOOK = {"adapter": "webhook", "url": "https://127.0.0.1:9/hook"}


async def audit(market: Market, **params: Any) -> dict[str, Any]:
    answer = await market.client.get("/v1/audit", params=params, headers=market.admin)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def hook_campaign(market: Market, buyer: Account) -> dict[str, Any]:
    return await market.campaign(buyer, HOOK, pricing=FIXED)


async def stored_audit_text(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(t.audit_log))).all()
    finally:
        await engine.dispose()
    return repr([tuple(row) for row in rows])


async def test_a_campaign_update_shows_only_its_changed_fields_before_and_after(market: Market) -> None:
    buyer = await market.buyer()
    campaign = await hook_campaign(market, buyer)
    changed = await market.client.patch(
        f"/v1/campaigns/{campaign['id']}", json={"weight": 3, "active": False}, headers=market.admin
    )
    assert changed.status_code == 200, changed.text

    [entry, created] = (await audit(market, entity_type="campaign", entity_id=campaign["id"]))["items"]
    assert entry["action"] == "campaign.update"
    assert entry["before"] == {"active": True, "weight": 1}
    assert entry["after"] == {"active": False, "weight": 3}
    assert entry["actor_role"] == "operator" and entry["actor_account_id"] is None
    assert entry["actor_key_id"].startswith("key_") and entry["client_address"]
    assert created["action"] == "campaign.create" and created["before"] is None
    assert created["after"]["buyer_id"] == buyer.id and created["after"]["delivery"] == HOOK

    # The buyer's own change: its key and its account are the actor; a nested change is
    # shown down to the key that changed.
    own = await market.client.patch(
        f"/v1/campaigns/{campaign['id']}",
        json={"delivery": {**HOOK, "url": "https://127.0.0.1:9/other"}},
        headers=buyer.auth,
    )
    assert own.status_code == 200, own.text
    [mine] = (await audit(market, actor=buyer.id))["items"]
    assert mine["actor_role"] == "buyer" and mine["actor_account_id"] == buyer.id
    assert mine["before"] == {"delivery": {"url": HOOK["url"]}}
    assert mine["after"] == {"delivery": {"url": "https://127.0.0.1:9/other"}}


async def test_a_new_key_is_shown_masked_and_never_stored(market: Market, database_url: str) -> None:
    made = await market.client.post(
        "/v1/keys", json={"role": "finance", "name": "Ledger"}, headers=market.admin
    )
    assert made.status_code == 201, made.text
    raw = made.json()["api_key"]
    revoked = await market.client.delete(f"/v1/keys/{made.json()['id']}", headers=market.admin)
    assert revoked.status_code == 200

    answer = await market.client.get("/v1/audit", params={"entity_type": "key"}, headers=market.admin)
    [revoke, create] = answer.json()["items"]
    assert create["action"] == "key.create" and create["entity_id"] == made.json()["id"]
    assert create["after"]["api_key"] == MASK
    assert create["after"]["role"] == "finance" and create["after"]["name"] == "Ledger"
    assert revoke["action"] == "key.revoke"
    assert revoke["before"] == {"revoked_at": None} and revoke["after"]["revoked_at"]
    assert raw not in answer.text
    assert raw not in await stored_audit_text(database_url)


async def test_delivery_credentials_and_url_passwords_are_masked(market: Market, database_url: str) -> None:
    buyer = await market.buyer()
    publisher = await market.publisher()
    post = {
        "url": "https://127.0.0.1:9/post?api_key=k-live-123&source=web",
        "format": "json",
        "headers": {"Authorization": "Bearer tok-live-123", "Content-Type": "application/json"},
        "mapping": {"Key": "=k-live-456", "Source": "=web", "FirstName": "first_name"},
        "response": {"format": "json", "accepted": {"path": "status", "equals": "ok"}},
    }
    campaign = await market.campaign(buyer, {"adapter": "http", "post": post}, pricing=FIXED)
    hook = await hook_campaign(market, buyer)
    pull = await market.client.post(
        f"/v1/publishers/{publisher.id}/pulls",
        json={"kind": "feed", "url": "http://feeds:pw-live-789@127.0.0.1:9/feed.xml", "vertical": "solar"},
        headers=market.admin,
    )
    assert pull.status_code == 201, pull.text
    rotated = await market.client.patch(
        f"/v1/campaigns/{campaign['id']}",
        json={
            "delivery": {"adapter": "http", "post": {**post, "headers": {"Authorization": "Bearer tok-2"}}}
        },
        headers=market.admin,
    )
    assert rotated.status_code == 200, rotated.text

    log = await audit(market)
    by_action = {(e["action"], e["entity_id"]): e for e in log["items"]}
    created = by_action["campaign.create", campaign["id"]]["after"]["delivery"]["post"]
    assert created["headers"] == {"Authorization": MASK, "Content-Type": "application/json"}
    assert created["mapping"] == {"Key": MASK, "Source": "=web", "FirstName": "first_name"}
    assert created["url"] == f"https://127.0.0.1:9/post?api_key={MASK}&source=web"
    assert by_action["campaign.create", hook["id"]]["after"]["webhook_secret"] == MASK
    assert (
        by_action["pull.create", pull.json()["id"]]["after"]["url"]
        == f"http://feeds:{MASK}@127.0.0.1:9/feed.xml"
    )
    # A changed credential shows as changed, never what it was or became.
    update = by_action["campaign.update", campaign["id"]]
    assert update["before"]["delivery"]["post"]["headers"] == {
        "Authorization": MASK,
        "Content-Type": "application/json",
    }
    assert update["after"]["delivery"]["post"]["headers"] == {"Authorization": MASK}
    stored = await stored_audit_text(database_url)
    for plain in ("k-live-123", "tok-live-123", "k-live-456", "pw-live-789", "tok-2", hook["webhook_secret"]):
        assert plain not in stored


def test_masking_keeps_what_is_not_secret() -> None:
    value = {
        "name": "Acme",
        "password": "hunter2",
        "nested": {"client_secret": "s", "list": ["ftp://u:p@h/dir", "plain"]},
        "auth": {"type": "basic", "username": "u", "password": "p"},
        "key": "auto_insurance",
        "shipping": "=x",
    }
    assert masked(value) == {
        "name": "Acme",
        "password": MASK,
        "nested": {"client_secret": MASK, "list": [f"ftp://u:{MASK}@h/dir", "plain"]},
        "auth": {"type": "basic", "username": MASK, "password": MASK},
        "key": "auto_insurance",
        "shipping": "=x",
    }
    assert changed_fields(
        {"a": 1, "b": {"c": 1, "d": 2}, "e": True}, {"a": 1, "b": {"c": 1, "d": 3}, "e": 1}
    ) == (
        {"b": {"d": 2}, "e": True},
        {"b": {"d": 3}, "e": 1},
    )


async def test_filters_and_pages_read_newest_first(market: Market) -> None:
    buyer = await market.buyer()
    other = await market.buyer(name="Other")
    campaigns = [await hook_campaign(market, buyer) for _ in range(3)]
    await market.client.patch(f"/v1/campaigns/{campaigns[0]['id']}", json={"weight": 5}, headers=buyer.auth)

    everything = (await audit(market, limit=500))["items"]
    ids = [e["id"] for e in everything]
    assert ids == sorted(ids, reverse=True)
    pages: list[int] = []
    cursor = None
    while True:
        page = await audit(market, limit=2, **({"cursor": cursor} if cursor else {}))
        assert len(page["items"]) <= 2
        pages += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == ids

    assert [e["entity_id"] for e in (await audit(market, action="campaign.create"))["items"]] == [
        c["id"] for c in reversed(campaigns)
    ]
    assert {e["action"] for e in (await audit(market, entity_type="buyer"))["items"]} == {"buyer.create"}
    assert [
        e["entity_id"] for e in (await audit(market, entity_type="buyer", entity_id=other.id))["items"]
    ] == [other.id]
    by_buyer = (await audit(market, actor=buyer.id))["items"]
    assert [e["action"] for e in by_buyer] == ["campaign.update"]
    by_key = (await audit(market, actor=by_buyer[0]["actor_key_id"]))["items"]
    assert by_key == by_buyer
    operator_key = everything[-1]["actor_key_id"]
    assert len((await audit(market, actor=operator_key))["items"]) == len(everything) - 1

    today = datetime.now(UTC).date()
    assert len((await audit(market, since=today.isoformat(), until=today.isoformat()))["items"]) == len(ids)
    assert (await audit(market, until=(today - timedelta(days=1)).isoformat()))["items"] == []
    assert (await audit(market, since=(today + timedelta(days=1)).isoformat()))["items"] == []
    assert (await audit(market, since=date.min.isoformat(), until=date.max.isoformat()))["items"]

    bad = await market.client.get("/v1/audit", params={"cursor": "nope"}, headers=market.admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    unknown = await market.client.get("/v1/audit", params={"who": "x"}, headers=market.admin)
    assert unknown.status_code == 400


async def test_only_operators_read_the_audit_log(market: Market) -> None:
    buyer = await market.buyer()
    publisher = await market.publisher()
    finance = await market.client.post(
        "/v1/keys", json={"role": "finance", "name": "F"}, headers=market.admin
    )
    for key in (buyer.key, publisher.key, finance.json()["api_key"]):
        answer = await market.client.get("/v1/audit", headers=bearer(key))
        assert answer.status_code == 403, answer.text
    assert (await market.client.get("/v1/audit")).status_code == 401


async def test_a_refused_or_empty_change_leaves_no_audit_row(market: Market) -> None:
    buyer = await market.buyer()
    campaign = await hook_campaign(market, buyer)
    before = (await audit(market))["items"]

    refused = [
        await market.client.patch(
            f"/v1/campaigns/{campaign['id']}", json={"weight": 0}, headers=market.admin
        ),
        await market.client.patch(
            f"/v1/campaigns/{campaign['id']}", json={"vertical": "no_such"}, headers=market.admin
        ),
        await market.client.post("/v1/keys", json={"role": "buyer", "name": "k"}, headers=market.admin),
        await market.client.put(
            "/v1/verticals/auto_insurance/distribution", json={"strategy": "lottery"}, headers=market.admin
        ),
        await market.client.post(
            f"/v1/buyers/{buyer.id}/payments",
            json={"amount_cents": 0, "reference": "r"},
            headers=market.admin,
        ),
    ]
    assert [answer.status_code for answer in refused] == [422] * 5
    # The same values again change nothing; a replayed payment is the first one.
    same = await market.client.patch(
        f"/v1/campaigns/{campaign['id']}", json={"weight": 1}, headers=market.admin
    )
    assert same.status_code == 200
    assert (await audit(market))["items"] == before
    await market.fund(buyer, 500, reference="wire-once")
    await market.fund(buyer, 500, reference="wire-once")
    payments = (await audit(market, action="payment.create"))["items"]
    assert len(payments) == 1 and payments[0]["after"]["amount_cents"] == 500


async def test_a_change_and_its_audit_row_roll_back_together(database_url: str) -> None:
    engine = create_engine(database_url)
    operator = Principal(key_id="key_ops", role="operator", address="203.0.113.9")
    now = datetime.now(UTC)
    try:
        with pytest.raises(RuntimeError):
            async with engine.begin() as conn:
                await conn.execute(
                    t.buyers.insert().values(
                        id="buy_rolled", name="R", timezone="UTC", credit_limit_cents=0, created_at=now
                    )
                )
                await record_change(
                    conn, operator, action="buyer.create", entity_type="buyer", entity_id="buy_rolled",
                    after={"name": "R"}, at=now,
                )  # fmt: skip
                raise RuntimeError("the change fails after its audit row was written")
        async with engine.begin() as conn:
            assert (await conn.execute(select(t.audit_log))).all() == []
            entry_id = await record_change(
                conn, operator, action="buyer.create", entity_type="buyer", entity_id="buy_kept",
                after={"name": "K"}, at=now,
            )  # fmt: skip
        async with engine.connect() as conn:
            [row] = (await conn.execute(select(t.audit_log))).all()
    finally:
        await engine.dispose()
    assert row.id == entry_id and row.entity_id == "buy_kept" and row.client_address == "203.0.113.9"
    assert row.actor_key_id == "key_ops" and row.actor_account_id is None and row.before is None


@dataclass(frozen=True)
class Change:
    """One request of the table and the audit row it must leave: `entity` names the changed
    object's id, in the answer (`answer.id`) or among the ids kept so far; `keep` keeps the
    answer's id under that name for later rows."""

    action: str
    request: str  # "METHOD /path/{id name}"
    body: dict[str, Any] | None = None
    entity: str = "answer.id"
    keep: str = ""
    by: str = "operator"


REVSHARE = {"model": "revshare", "percent": 50}
HOOKED = {"buyer_id": "{buyer_id}", "vertical": "solar", "pricing": FIXED, "delivery": HOOK, "active": False}
VERTICAL = {"key": "audited", "fields": [{"name": "note", "type": "str"}]}
PAYMENT = {"amount_cents": 700, "reference": "table"}
FEED = {"kind": "feed", "url": "http://127.0.0.1:9/feed.xml", "vertical": "solar"}

CHANGES: tuple[Change, ...] = (
    Change("publisher.create", "POST /v1/publishers", {"name": "P", "payout": REVSHARE}),
    Change("publisher.update", "PATCH /v1/publishers/{publisher_id}", {"consent_text": "Y"}, "publisher_id"),
    Change("buyer.create", "POST /v1/buyers", {"name": "B", "timezone": "UTC"}),
    Change("key.create", "POST /v1/keys", {"role": "finance", "name": "F"}, keep="key_id"),
    Change("key.revoke", "DELETE /v1/keys/{key_id}", entity="key_id"),
    Change("campaign.create", "POST /v1/campaigns", HOOKED, keep="hook_id"),
    Change("campaign.update", "PATCH /v1/campaigns/{hook_id}", {"weight": 2}, "hook_id", by="buyer"),
    Change("campaign.rotate_webhook_secret", "POST /v1/campaigns/{hook_id}/webhook-secret", None, "hook_id"),
    Change("vertical.create", "POST /v1/verticals", VERTICAL, "answer.key"),
    Change("vertical.set_distribution", "PUT /v1/verticals/audited/distribution", {"max_sales": 2}, "key"),
    Change("payment.create", "POST /v1/buyers/{buyer_id}/payments", PAYMENT, "answer.transaction_id"),
    Change("return.create", "POST /v1/leads/{sold}/returns", {"reason": "other"}, keep="ret", by="buyer"),
    Change("return.decide", "POST /v1/returns/{ret}/decision", {"approve": False}, "ret"),
    Change("lead.erase_personal_data", "DELETE /v1/leads/{sold}/personal-data", None, "sold"),
    Change("pull.create", "POST /v1/publishers/{publisher_id}/pulls", FEED, keep="pull_id"),
    Change("pull.run", "POST /v1/pulls/{pull_id}/run", None, "pull_id"),
    Change("pull.stop", "DELETE /v1/pulls/{pull_id}", None, "pull_id"),
    Change("job.retry", "POST /v1/jobs/{job_id}/retry", None, "job_id"),
    Change("file_batch.retry", "POST /v1/file-batches/{file_batch_id}/retry", None, "file_batch_id"),
    Change("delivery.resend", "POST /v1/deliveries/{failed_id}/resend", None, "failed_id", keep="resent"),
    Change("hold.decide", "POST /v1/holds/{uncertain_id}/decision", {"sold": False}, "uncertain_id"),
)  # fmt: skip


async def test_each_kind_of_change_is_audited(market: Market, database_url: str) -> None:
    publisher = await market.publisher()
    buyer = await market.buyer()
    await market.fund(buyer, 1_000_000)
    ids = {"publisher_id": publisher.id, "buyer_id": buyer.id, "key": "audited"}
    ids.update(await _park_a_job_and_a_file_batch(database_url))
    async with serve(FakeBuyer()) as (fake,):
        delivery = fake.delivery(bid=False)
        delivery["post"]["timeout_ms"] = 300
        await market.campaign(buyer, delivery, pricing=FIXED)
        sold = await market.post_lead(publisher, auto_insurance_lead())
        assert sold.json()["status"] == "sold", sold.text
        ids["sold"] = sold.json()["lead_id"]
        fake.accept = False
        unsold = await market.post_lead(publisher, auto_insurance_lead())
        ids["failed_id"] = await _failed_post(market, unsold.json()["lead_id"])
        fake.post_delay = 1.0  # the re-sent post, and every ask after it, gets no answer in time

        for change in CHANGES:
            if change.action == "hold.decide":
                ids["uncertain_id"] = await _uncertain(market, ids["resent"])
            mark = (await audit(market, limit=1))["items"][0]["id"]
            method, path = change.request.split(" ")
            body = {k: v.format(**ids) if isinstance(v, str) else v for k, v in (change.body or {}).items()}
            answer = await market.client.request(
                method,
                path.format(**ids),
                json=body if change.body is not None else None,
                headers=buyer.auth if change.by == "buyer" else market.admin,
            )
            assert answer.status_code in (200, 201, 202), (change.action, answer.text)
            made = answer.json()
            if change.keep:
                ids[change.keep] = str(made.get("hold_id") or made["id"])
            entity = ids.get(change.entity) or made[change.entity.removeprefix("answer.")]
            rows = [r for r in (await audit(market, action=change.action))["items"] if r["id"] > mark]
            assert [r["entity_id"] for r in rows] == [str(entity)], change.action
            assert rows[0]["actor_role"] == change.by, change.action


async def _park_a_job_and_a_file_batch(database_url: str) -> dict[str, str]:
    """A job whose attempts are spent and a batch file that failed: what operators retry."""
    now = datetime.now(UTC)
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            job = await conn.execute(
                t.outbox.insert()
                .values(
                    job="no_such_job",
                    payload={},
                    due_at=now,
                    attempts=7,
                    created_at=now,
                    done_at=now,
                    failed_at=now,
                )
                .returning(t.outbox.c.id)
            )
            job_id = str(job.scalar_one())
            await conn.execute(
                t.file_batches.insert().values(
                    id="fb_audited",
                    campaign_id="cmp_gone",
                    state="failed",
                    leads=0,
                    attempts=5,
                    error="refused",
                    created_at=now,
                    due_at=now,
                )
            )
    finally:
        await engine.dispose()
    return {"job_id": job_id, "file_batch_id": "fb_audited"}


async def _failed_post(market: Market, lead_id: str) -> str:
    found = await market.client.get("/v1/deliveries", params={"lead_id": lead_id}, headers=market.admin)
    [post] = [d for d in found.json()["items"] if d["kind"] == "post"]
    assert post["status"] == "rejected", post
    return str(post["id"])


async def _uncertain(market: Market, hold_id: str) -> str:
    for _ in range(200):
        hold = (await market.client.get(f"/v1/holds/{hold_id}", headers=market.admin)).json()
        if hold["state"] == "uncertain":
            return hold_id
        assert hold["state"] not in ("sold", "released"), hold
        await asyncio.sleep(0.05)
    raise AssertionError(f"hold {hold_id} is still {hold['state']}")


async def test_a_finance_key_is_named_as_the_actor_of_its_payment(market: Market) -> None:
    buyer = await market.buyer()
    made = await market.client.post("/v1/keys", json={"role": "finance", "name": "F"}, headers=market.admin)
    paid = await market.client.post(
        f"/v1/buyers/{buyer.id}/payments",
        json={"amount_cents": 900, "reference": "fin-1"},
        headers=bearer(made.json()["api_key"]),
    )
    assert paid.status_code == 201, paid.text
    [payment] = (await audit(market, action="payment.create"))["items"]
    assert payment["actor_role"] == "finance" and payment["actor_key_id"] == made.json()["id"]
    assert payment["entity_id"] == paid.json()["transaction_id"]
    assert payment["after"]["buyer_id"] == buyer.id and payment["after"]["amount_cents"] == 900
