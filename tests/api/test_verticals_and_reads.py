"""Verticals over the API, and reading leads: pages, filters, events."""

from __future__ import annotations

from tests.conftest import Market, auto_insurance_lead


async def test_builtin_verticals_are_listed_with_fields_and_distribution(market: Market) -> None:
    publisher = await market.publisher()
    answer = await market.client.get("/v1/verticals", headers=publisher.auth)
    keys = {v["key"] for v in answer.json()["items"]}
    assert {"auto_insurance", "mortgage", "solar", "home_services", "auto_sales"} <= keys
    one = (await market.client.get("/v1/verticals/mortgage", headers=publisher.auth)).json()
    purpose = next(f for f in one["fields"] if f["name"] == "loan_purpose")
    assert purpose["type"] == "enum" and purpose["required"] is True and "refinance" in purpose["values"]
    assert one["distribution"]["strategy"] == "auction"
    assert one["distribution"]["duplicate_window_days"] == 30


async def test_operator_adds_a_vertical_and_leads_follow_its_schema(market: Market) -> None:
    created = await market.client.post(
        "/v1/verticals",
        json={
            "key": "pet_insurance",
            "fields": [
                {"name": "first_name", "type": "str", "required": True},
                {"name": "phone", "type": "str", "required": True},
                {"name": "species", "type": "enum", "required": True, "values": ["dog", "cat"]},
                {"name": "pet_age", "type": "int", "required": False},
            ],
        },
        headers=market.admin,
    )
    assert created.status_code == 201, created.text
    publisher = await market.publisher()
    good = await market.post_lead(
        publisher, {"first_name": "Ada", "phone": "+14155550120", "species": "Dog"}, vertical="pet_insurance"
    )
    assert good.status_code == 201, good.text
    bad = await market.post_lead(
        publisher, {"first_name": "Ada", "phone": "+14155550121", "species": "fish"}, vertical="pet_insurance"
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "species"
    again = await market.client.post(
        "/v1/verticals", json={"key": "pet_insurance", "fields": []}, headers=market.admin
    )
    assert again.status_code == 409


async def test_distribution_settings_are_replaced_and_read_back(market: Market) -> None:
    settings = {
        "strategy": "round_robin",
        "ping_timeout_ms": 800,
        "max_sales": 3,
        "duplicate_window_days": 45,
        "floor_cents_by_grade": {"A": 1200, "B": 800},
        "require_consent": True,
        "aged_pricing": [{"after_hours": 24, "percent": 60}],
    }
    put = await market.client.put("/v1/verticals/solar/distribution", json=settings, headers=market.admin)
    assert put.status_code == 200, put.text
    read = (await market.client.get("/v1/verticals/solar", headers=market.admin)).json()["distribution"]
    assert {k: read[k] for k in settings} == settings
    bad = await market.client.put(
        "/v1/verticals/solar/distribution", json={"strategy": "lottery"}, headers=market.admin
    )
    assert bad.status_code == 422
    publisher = await market.publisher()
    forbidden = await market.client.put(
        "/v1/verticals/solar/distribution", json=settings, headers=publisher.auth
    )
    assert forbidden.status_code == 403


async def test_leads_page_newest_first_with_a_cursor(market: Market) -> None:
    publisher = await market.publisher()
    ids = [(await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await market.client.get("/v1/leads", params=params, headers=market.admin)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


async def test_leads_filter_by_publisher_status_and_day(market: Market) -> None:
    one, two = await market.publisher(), await market.publisher(name="Two")
    await market.post_lead(one, auto_insurance_lead())
    await market.post_lead(two, auto_insurance_lead())
    mine = await market.client.get("/v1/leads", params={"publisher_id": one.id}, headers=market.admin)
    assert {item["publisher_id"] for item in mine.json()["items"]} == {one.id}
    none = await market.client.get(
        "/v1/leads", params={"since": "2000-01-01", "until": "2000-01-02"}, headers=market.admin
    )
    assert none.json()["items"] == []
    bad = await market.client.get("/v1/leads", params={"since": "yesterday"}, headers=market.admin)
    assert bad.status_code in (400, 422)


async def test_events_tell_the_whole_story_in_order(market: Market) -> None:
    publisher = await market.publisher()
    lead_id = (await market.post_lead(publisher, auto_insurance_lead())).json()["lead_id"]
    events = (await market.client.get(f"/v1/leads/{lead_id}/events", headers=market.admin)).json()["items"]
    assert [e["kind"] for e in events] == ["received", "validated", "graded", "eligibility", "unsold"]
    graded = events[2]["data"]
    assert graded["grade"] in "ABCD" and graded["reasons"]
    received = events[0]["data"]
    assert received["content_type"] == "application/json"
    assert "Ada" not in str(events)


async def test_every_field_of_a_vertical_says_whether_it_is_required(market: Market) -> None:
    answer = await market.client.get("/v1/verticals/auto_insurance", headers=market.admin)
    fields = answer.json()["fields"]
    assert all(isinstance(field["required"], bool) for field in fields)
    assert {f["name"] for f in fields if f["required"]} >= {"vehicle_year"}
    assert any(f["required"] is False for f in fields)
