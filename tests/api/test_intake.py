"""POST /v1/leads: each format, the answers, duplicates, idempotency, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from exchange.storage import tables as t
from exchange.storage.db import create_engine
from tests.conftest import Market, auto_insurance_lead


async def count_leads(database_url: str) -> int:
    engine = create_engine(database_url)
    async with engine.connect() as conn:
        n = await conn.scalar(select(func.count()).select_from(t.leads))
    await engine.dispose()
    return int(n or 0)


async def test_json_lead_is_stored_graded_and_answered_unsold_without_campaigns(market: Market) -> None:
    publisher = await market.publisher()
    answer = await market.post_lead(publisher, auto_insurance_lead())
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "unsold"
    assert body["grade"] in ("A", "B", "C", "D")
    assert body["lead_id"].startswith("lead_")
    assert body["errors"] == []
    stored = await market.client.get(f"/v1/leads/{body['lead_id']}", headers=market.admin)
    assert stored.status_code == 200
    lead = stored.json()
    assert lead["fields"]["phone"].startswith("+1")
    assert lead["status"] == "unsold"
    assert lead["grade"] == body["grade"]
    assert lead["grade_reasons"]


async def test_form_body_with_dotted_consent_is_read(market: Market) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead()
    consent = lead.pop("consent")
    form = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in lead.items()}
    form["consent.text"] = consent["text"]
    form["consent.timestamp"] = consent["timestamp"]
    answer = await market.post_lead(publisher, data=form)
    assert answer.status_code == 201, answer.text
    stored = (await market.client.get(f"/v1/leads/{answer.json()['lead_id']}", headers=market.admin)).json()
    assert stored["consent"]["text"] == consent["text"]
    assert stored["fields"]["currently_insured"] is True
    assert stored["fields"]["vehicle_year"] == 2019


async def test_xml_lead_document_is_read_and_answer_can_be_xml(market: Market) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead()
    consent = lead.pop("consent")
    elements = "".join(f"<{k}>{str(v).lower() if isinstance(v, bool) else v}</{k}>" for k, v in lead.items())
    consent_xml = "".join(f"<{k}>{v}</{k}>" for k, v in consent.items())
    body = f"<lead>{elements}<consent>{consent_xml}</consent></lead>".encode()
    answer = await market.post_lead(
        publisher,
        content=body,
        headers={"Content-Type": "application/xml", "Accept": "application/xml"},
    )
    assert answer.status_code == 201, answer.text
    assert answer.headers["content-type"].startswith("application/xml")
    assert "<status>unsold</status>" in answer.text
    assert "<lead_id>lead_" in answer.text


async def test_adf_document_goes_to_auto_sales_without_a_vertical(market: Market) -> None:
    publisher = await market.publisher()
    adf = b"""<?xml version="1.0"?><?adf version="1.0"?>
    <adf><prospect><requestdate>2026-11-20T10:00:00-08:00</requestdate>
    <vehicle interest="buy" status="new"><year>2026</year><make>Honda</make><model>Civic</model></vehicle>
    <customer><contact><name part="full">Grace Hopper</name><email>grace@example.org</email>
    <phone type="voice">(212) 555-0147</phone></contact></customer>
    <vendor><vendorname>Bay Honda</vendorname></vendor></prospect></adf>"""
    answer = await market.post_lead(
        publisher, vertical=None, content=adf, headers={"Content-Type": "application/xml"}
    )
    assert answer.status_code == 201, answer.text
    stored = (await market.client.get(f"/v1/leads/{answer.json()['lead_id']}", headers=market.admin)).json()
    assert stored["vertical"] == "auto_sales"
    assert stored["fields"]["first_name"] == "Grace"
    assert stored["fields"]["last_name"] == "Hopper"
    assert stored["fields"]["vehicle_make"] == "Honda"


async def test_invalid_lead_is_rejected_with_every_problem_named(market: Market, database_url: str) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead(phone="12", email="not-an-email", zip="99999", vehicle_year="soon")
    del lead["last_name"]
    answer = await market.post_lead(publisher, lead)
    assert answer.status_code == 422
    body = answer.json()
    assert body["status"] == "rejected"
    problems = {(e["field"], e["code"]) for e in body["errors"]}
    assert ("phone", "invalid_phone") in problems
    assert ("email", "invalid_email") in problems
    assert ("zip", "invalid_zip") in problems
    assert ("vehicle_year", "invalid_type") in problems
    assert ("last_name", "required") in problems
    assert all(e["message"] for e in body["errors"])
    rejected = await market.client.get("/v1/leads", params={"status": "rejected"}, headers=market.admin)
    assert [item["id"] for item in rejected.json()["items"]] == [body["lead_id"]]


async def test_required_consent_is_enforced_when_the_vertical_says_so(market: Market) -> None:
    publisher = await market.publisher()
    setting = await market.client.put(
        "/v1/verticals/auto_insurance/distribution",
        json={"strategy": "auction", "require_consent": True},
        headers=market.admin,
    )
    assert setting.status_code == 200, setting.text
    lead = auto_insurance_lead()
    del lead["consent"]
    answer = await market.post_lead(publisher, lead)
    assert answer.status_code == 422
    assert {(e["field"], e["code"]) for e in answer.json()["errors"]} == {("consent", "required")}


async def test_same_phone_within_window_is_a_duplicate(market: Market) -> None:
    publisher = await market.publisher()
    first = await market.post_lead(publisher, auto_insurance_lead(phone="+14155550101"))
    assert first.status_code == 201
    again = await market.post_lead(publisher, auto_insurance_lead(phone="(415) 555-0101"))
    assert again.status_code == 409
    assert again.json()["status"] == "duplicate"
    events = await market.client.get(f"/v1/leads/{again.json()['lead_id']}/events", headers=market.admin)
    duplicate = [e for e in events.json()["items"] if e["kind"] == "duplicate"]
    assert duplicate[0]["data"] == {"duplicate_of": first.json()["lead_id"], "matched": "phone"}


async def test_same_email_is_a_duplicate_but_other_vertical_is_not(market: Market) -> None:
    publisher = await market.publisher()
    await market.post_lead(publisher, auto_insurance_lead(email="Same@Example.com"))
    again = await market.post_lead(publisher, auto_insurance_lead(email="same@example.com"))
    assert again.status_code == 409
    other = await market.post_lead(
        publisher,
        {
            **{
                k: v
                for k, v in auto_insurance_lead(email="same@example.com").items()
                if k in ("first_name", "last_name", "email", "phone", "zip", "consent")
            },
            "homeowner": True,
            "monthly_electric_bill_cents": 18000,
        },
        vertical="solar",
    )
    assert other.status_code == 201, other.text


async def test_duplicate_window_zero_turns_duplicate_check_off(market: Market) -> None:
    publisher = await market.publisher()
    await market.client.put(
        "/v1/verticals/auto_insurance/distribution",
        json={"duplicate_window_days": 0},
        headers=market.admin,
    )
    await market.post_lead(publisher, auto_insurance_lead(phone="+14155550102"))
    again = await market.post_lead(publisher, auto_insurance_lead(phone="+14155550102"))
    assert again.status_code == 201


async def test_concurrent_identical_leads_yield_one_lead_and_duplicates(market: Market) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead(phone="+14155550103")
    answers = await asyncio.gather(
        *(market.post_lead(publisher, {**lead, "email": f"c{i}@example.com"}) for i in range(12))
    )
    codes = sorted(a.status_code for a in answers)
    assert codes.count(201) == 1
    assert codes.count(409) == 11


async def test_idempotency_key_replay_answers_the_first_lead(market: Market, database_url: str) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead()
    first = await market.post_lead(publisher, lead, headers={"Idempotency-Key": "k-1"})
    replay = await market.post_lead(publisher, lead, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json() == first.json()
    assert await count_leads(database_url) == 1


async def test_idempotency_key_with_another_body_is_refused(market: Market, database_url: str) -> None:
    publisher = await market.publisher()
    await market.post_lead(publisher, auto_insurance_lead(), headers={"Idempotency-Key": "k-2"})
    other = await market.post_lead(publisher, auto_insurance_lead(), headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_mismatch"
    assert await count_leads(database_url) == 1


async def test_external_id_replay_answers_the_first_lead(market: Market, database_url: str) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead(external_id="crm-42")
    first = await market.post_lead(publisher, lead)
    replays = await asyncio.gather(*(market.post_lead(publisher, lead) for _ in range(5)))
    assert {r.status_code for r in replays} == {200}
    assert all(r.json() == first.json() for r in replays)
    assert await count_leads(database_url) == 1


async def test_concurrent_requests_with_one_key_make_one_lead(market: Market, database_url: str) -> None:
    publisher = await market.publisher()
    lead = auto_insurance_lead()
    answers = await asyncio.gather(
        *(market.post_lead(publisher, lead, headers={"Idempotency-Key": "race"}) for _ in range(10))
    )
    assert sorted(a.status_code for a in answers) == [200] * 9 + [201]
    assert len({a.json()["lead_id"] for a in answers}) == 1
    assert await count_leads(database_url) == 1


async def test_idempotency_keys_are_per_publisher(market: Market) -> None:
    one, two = await market.publisher(), await market.publisher(name="Other")
    a = await market.post_lead(one, auto_insurance_lead(), headers={"Idempotency-Key": "shared"})
    b = await market.post_lead(two, auto_insurance_lead(), headers={"Idempotency-Key": "shared"})
    assert (a.status_code, b.status_code) == (201, 201)


async def test_async_mode_acknowledges_then_distributes_from_the_outbox(market: Market) -> None:
    publisher = await market.publisher()
    answer = await market.post_lead(publisher, auto_insurance_lead(), mode="async")
    assert answer.status_code == 202
    assert answer.json()["status"] == "accepted"
    lead_id = answer.json()["lead_id"]
    for _ in range(100):
        lead = (await market.client.get(f"/v1/leads/{lead_id}", headers=market.admin)).json()
        if lead["status"] != "accepted":
            break
        await asyncio.sleep(0.05)
    assert lead["status"] == "unsold"


async def test_publisher_field_mapping_renames_their_fields(market: Market) -> None:
    publisher = await market.publisher(
        field_mapping={"FName": "first_name", "LName": "last_name", "TCPA": "consent.text"}
    )
    lead = auto_insurance_lead()
    lead["FName"], lead["LName"] = lead.pop("first_name"), lead.pop("last_name")
    answer = await market.post_lead(publisher, lead)
    assert answer.status_code == 201, answer.text
    stored = (await market.client.get(f"/v1/leads/{answer.json()['lead_id']}", headers=market.admin)).json()
    assert stored["fields"]["first_name"] == "Ada"


async def test_default_vertical_is_used_when_none_is_named(market: Market) -> None:
    publisher = await market.publisher(default_vertical="auto_insurance")
    answer = await market.post_lead(publisher, auto_insurance_lead(), vertical=None)
    assert answer.status_code == 201, answer.text


async def test_metrics_count_answered_leads(market: Market) -> None:
    publisher = await market.publisher()
    await market.post_lead(publisher, auto_insurance_lead())
    text = (await market.client.get("/metrics", headers=market.admin)).text
    assert 'exchange_leads_total{status="unsold",vertical="auto_insurance"} 1.0' in text


def _ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]
