"""Input no client should send, each answered with a 4xx naming what is wrong, never a 500:
the reproducers a review found, kept so they stay fixed."""

from __future__ import annotations

from typing import Any

from tests.conftest import Market, auto_insurance_lead, bearer

DEEP_JSON = '{"a":' * 1000 + "1" + "}" * 1000


async def test_a_request_without_a_key_is_401_whatever_its_body(market: Market) -> None:
    for body in (DEEP_JSON, "{not json", '{"role": "operator"}'):
        answer = await market.client.post(
            "/v1/keys", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 401, (body[:20], answer.text)
    bad_key = await market.client.post(
        "/v1/keys", content=DEEP_JSON, headers={**bearer("lx_nope"), "Content-Type": "application/json"}
    )
    assert bad_key.status_code == 401
    query = await market.client.get("/v1/leads", params={"until": "not a date"})
    assert query.status_code == 401


async def test_deep_bodies_and_names_are_refused_as_too_deep(market: Market) -> None:
    publisher = await market.publisher()
    deep = await market.client.post(
        "/v1/keys", content=DEEP_JSON, headers={**market.admin, "Content-Type": "application/json"}
    )
    assert deep.status_code == 400 and deep.json()["code"] == "too_deep"
    form = await market.client.post(
        "/v1/leads?vertical=auto_insurance",
        content="a." * 10_000 + "b=1",
        headers={**publisher.auth, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 400 and form.json()["errors"][0]["code"] == "too_deep"
    assert (await market.client.get("/v1/leads", headers=market.admin)).json()["items"] == []


async def test_dates_at_the_end_of_the_calendar_are_read_not_overflowed(market: Market) -> None:
    for path in ("/v1/leads", "/v1/deliveries", "/v1/reports/sources"):
        answer = await market.client.get(path, params={"until": "9999-12-31"}, headers=market.admin)
        assert answer.status_code == 200, (path, answer.text)
        first = await market.client.get(path, params={"since": "0001-01-01"}, headers=market.admin)
        assert first.status_code == 200, (path, first.text)


async def test_numbers_past_their_bounds_name_the_field(market: Market) -> None:
    buyer = await market.buyer()
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("GET", "/v1/marketplace?max_age_hours=1e9", {"headers": buyer.auth}, "max_age_hours"),
        ("GET", "/v1/marketplace?max_age_hours=inf", {"headers": buyer.auth}, "max_age_hours"),
        (
            "POST",
            "/v1/buyers",
            {"json": {"name": "B", "timezone": "UTC", "credit_limit_cents": 2**63}, "headers": market.admin},
            "credit_limit_cents",
        ),
        (
            "PUT",
            "/v1/verticals/auto_insurance/distribution",
            {"json": {"floor_cents_by_grade": {"A": 10**20}}, "headers": market.admin},
            "floor_cents_by_grade.A",
        ),
    ]
    for method, path, options, field in cases:
        answer = await market.client.request(method, path, **options)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["errors"][0]["field"] == field


async def test_a_cursor_past_any_id_is_a_named_4xx(market: Market) -> None:
    publisher = await market.publisher()
    lead = (await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"]
    answer = await market.client.get(
        f"/v1/leads/{lead}/events", params={"cursor": str(2**63)}, headers=market.admin
    )
    assert answer.status_code in (400, 422), answer.text
    assert answer.json()["errors"][0]["field"] == "cursor"


async def test_nul_characters_are_refused_where_they_arrive(market: Market) -> None:
    publisher = await market.publisher()
    account = await market.client.post(
        "/v1/buyers", json={"name": "Best\u0000Insurance", "timezone": "UTC"}, headers=market.admin
    )
    assert account.status_code == 422 and account.json()["errors"][0]["field"] == "body"
    lead = auto_insurance_lead(last_name="Love\u0000lace", nickname="x\u0000y")
    answer = await market.post_lead(publisher, lead)
    assert answer.status_code == 422
    named = {(e["field"], e["code"]) for e in answer.json()["errors"]}
    assert {("last_name", "invalid_value"), ("nickname", "invalid_value")} <= named
    # The rejected lead is stored (as every rejected lead is), its NULs replaced.
    stored = await market.client.get(f"/v1/leads/{answer.json()['lead_id']}", headers=market.admin)
    assert stored.status_code == 200 and "\\u0000" not in stored.text and "\u0000" not in stored.text


async def test_the_filters_users_reach_for_exist(market: Market) -> None:
    publisher, buyer = await market.publisher(), await market.buyer()
    kept = (await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"]
    await market.post_lead(publisher, {"first_name": "Ada"}, vertical="mortgage")  # stored, rejected
    auto = await market.client.get("/v1/leads", params={"vertical": "auto_insurance"}, headers=market.admin)
    assert [lead["id"] for lead in auto.json()["items"]] == [kept]
    delivery = {"adapter": "webhook", "url": "https://buyer.example/hook"}
    first, second = await market.campaign(buyer, delivery), await market.campaign(buyer, delivery)
    await market.client.patch(f"/v1/campaigns/{second['id']}", json={"active": False}, headers=market.admin)
    active = await market.client.get("/v1/campaigns", params={"active": "true"}, headers=market.admin)
    paused = await market.client.get("/v1/campaigns", params={"active": "false"}, headers=market.admin)
    assert [c["id"] for c in active.json()["items"]] == [first["id"]]
    assert [c["id"] for c in paused.json()["items"]] == [second["id"]]


async def test_an_unknown_query_parameter_is_named_not_ignored(market: Market) -> None:
    misspelt = await market.client.get(
        "/v1/leads", params={"vertcal": "auto_insurance"}, headers=market.admin
    )
    assert misspelt.status_code == 400 and misspelt.json()["code"] == "unknown_parameter"
    assert misspelt.json()["errors"][0]["field"] == "vertcal" and "vertical" in misspelt.json()["message"]
    campaigns = await market.client.get("/v1/campaigns", params={"actve": "true"}, headers=market.admin)
    assert campaigns.status_code == 400 and campaigns.json()["errors"][0]["field"] == "actve"
    # A parameter whose name differs from its argument's is known by its name in the query.
    assert (
        await market.client.get("/v1/jobs", params={"state": "failed"}, headers=market.admin)
    ).status_code == 200


def test_a_failure_of_ours_logs_its_traceback_once_a_minute_per_place(caplog: Any) -> None:
    from litestar import Request

    from exchange.api.errors import internal_error

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/leads/lead_1",
        "path_template": "/v1/leads/{lead_id}",
    }
    scope |= {"headers": [], "query_string": b"", "app": None}
    with caplog.at_level("WARNING", logger="exchange.api.errors"):
        for _ in range(3):
            try:
                raise ZeroDivisionError("x")
            except ZeroDivisionError as exc:
                answer = internal_error(Request(scope), exc)  # type: ignore[arg-type]
                assert answer.status_code == 500
    records = [r for r in caplog.records if r.name == "exchange.api.errors"]
    assert [r.levelname for r in records] == ["ERROR", "WARNING", "WARNING"]
    assert records[0].exc_info is not None and all(r.exc_info is None for r in records[1:])
    assert all("lead_1" not in r.getMessage() for r in records)  # the template, never the id


async def test_a_value_outside_a_fixed_set_is_answered_with_the_values_allowed(market: Market) -> None:
    buyer = await market.buyer()
    body = {
        "buyer_id": buyer.id,
        "vertical": "auto_insurance",
        "pricing": {"model": "fixed", "cents_by_grade": {"A": 100}},
        "delivery": {"adapter": "webhook", "url": "https://buyer.example/hook"},
        "filters": [{"field": "zip", "op": "bad op", "value": "1"}],
    }
    answer = await market.client.post("/v1/campaigns", json=body, headers=market.admin)
    [error] = answer.json()["errors"]
    assert error["field"] == "filters[0].op" and "one of: between, eq, exists" in error["message"]
    tag = await market.client.post(
        "/v1/campaigns", json={**body, "filters": [], "pricing": {"model": "nope"}}, headers=market.admin
    )
    assert tag.json()["errors"][0]["message"].endswith("one of: bid, fixed")
    status = await market.client.get("/v1/leads", params={"status": "lost"}, headers=market.admin)
    assert status.status_code in (400, 422) and "sold" in status.json()["errors"][0]["message"]
