"""Batches over HTTP: CSV and XLSX files of leads, every row through the same intake."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import openpyxl

from tests.conftest import Market, auto_insurance_lead

COLUMNS = [
    "first_name",
    "last_name",
    "email",
    "phone",
    "zip",
    "date_of_birth",
    "vehicle_year",
    "vehicle_make",
    "vehicle_model",
    "currently_insured",
]


def row(**overrides: Any) -> list[str]:
    lead = {**auto_insurance_lead(), **overrides}
    return [str(lead.get(c, "")) for c in COLUMNS]


def csv_bytes(rows: list[list[str]], *, header: list[str] = COLUMNS) -> bytes:
    lines = [",".join(header), *(",".join(r) for r in rows)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


async def finished(market: Market, batch_id: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(200):
        batch = (await market.client.get(f"/v1/batches/{batch_id}", headers=headers)).json()
        if batch["status"] == "done":
            return dict(batch)
        await asyncio.sleep(0.05)
    raise AssertionError(f"batch {batch_id} is still {batch['status']}")


async def test_a_csv_batch_takes_good_rows_and_names_bad_ones(market: Market) -> None:
    publisher = await market.publisher()
    body = csv_bytes([row(), row(email="not-an-email"), row(), [*row(), "extra"]])
    answer = await market.client.post(
        "/v1/leads/batch",
        params={"vertical": "auto_insurance"},
        content=body,
        headers={**publisher.auth, "Content-Type": "text/csv"},
    )
    assert answer.status_code == 202, answer.text
    batch = await finished(market, answer.json()["batch_id"], publisher.auth)
    statuses = [(r["row"], r["status"]) for r in batch["rows"]]
    assert statuses == [(1, "unsold"), (2, "rejected"), (3, "unsold"), (4, "rejected")]
    assert batch["rows"][1]["errors"][0]["field"] == "email"
    assert batch["rows"][3]["errors"][0]["code"] == "unreadable_row"
    assert batch["total"] == 4 and batch["counts"]["unsold"] == 2 and batch["counts"]["rejected"] == 2
    lead = await market.client.get(f"/v1/leads/{batch['rows'][0]['lead_id']}", headers=publisher.auth)
    assert lead.status_code == 200 and lead.json()["fields"]["zip"] == auto_insurance_lead()["zip"]
    other = await market.publisher(name="Other")
    hidden = await market.client.get(f"/v1/batches/{batch['id']}", headers=other.auth)
    assert hidden.status_code == 404


async def test_an_xlsx_batch_is_read_like_a_csv(market: Market) -> None:
    publisher = await market.publisher()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(COLUMNS)
    for _ in range(3):
        lead = auto_insurance_lead()
        sheet.append([lead.get(c) for c in COLUMNS])
    buffer = io.BytesIO()
    workbook.save(buffer)
    answer = await market.client.post(
        "/v1/leads/batch?vertical=auto_insurance",
        content=buffer.getvalue(),
        headers={
            **publisher.auth,
            "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
    )
    assert answer.status_code == 202, answer.text
    batch = await finished(market, answer.json()["batch_id"], publisher.auth)
    assert [r["status"] for r in batch["rows"]] == ["unsold"] * 3


async def test_rows_with_an_external_id_are_one_lead_across_uploads(market: Market) -> None:
    publisher = await market.publisher()
    header = [*COLUMNS, "external_id"]
    body = csv_bytes([[*row(), "crm-1"], [*row(), "crm-2"]], header=header)
    ids = []
    for _ in range(2):
        answer = await market.client.post(
            "/v1/leads/batch?vertical=auto_insurance",
            content=body,
            headers={**publisher.auth, "Content-Type": "text/csv"},
        )
        batch = await finished(market, answer.json()["batch_id"], publisher.auth)
        ids.append([r["lead_id"] for r in batch["rows"]])
    assert ids[0] == ids[1] and None not in ids[0]


async def test_files_that_are_not_leads_are_refused_or_named(market: Market) -> None:
    publisher = await market.publisher()
    wrong_type = await market.client.post(
        "/v1/leads/batch?vertical=auto_insurance",
        content=b"{}",
        headers={**publisher.auth, "Content-Type": "application/json"},
    )
    assert (
        wrong_type.status_code == 422 and wrong_type.json()["errors"][0]["code"] == "unsupported_media_type"
    )
    fake_xlsx = await market.client.post(
        "/v1/leads/batch?vertical=auto_insurance",
        content=b"PK\x03\x04 not really a workbook",
        headers={**publisher.auth, "Content-Type": "application/octet-stream"},
    )
    batch = await finished(market, fake_xlsx.json()["batch_id"], publisher.auth)
    assert batch["rows"][0]["status"] == "rejected" and "XLSX" in batch["rows"][0]["errors"][0]["message"]
    latin = "first_name,zip\r\nJos\xe9,94105\r\n".encode("latin-1")
    answer = await market.client.post(
        "/v1/leads/batch?vertical=auto_insurance",
        content=latin,
        headers={**publisher.auth, "Content-Type": "text/csv"},
    )
    batch = await finished(market, answer.json()["batch_id"], publisher.auth)
    [only] = batch["rows"]
    assert only["status"] == "rejected"  # read (José, in Latin-1), and missing required fields
    lead = await market.client.get(f"/v1/leads/{only['lead_id']}", headers=publisher.auth)
    assert lead.json()["fields"]["first_name"] == "José"


async def test_xml_and_ndjson_batches_read_a_lead_per_element_or_line(market: Market) -> None:
    publisher = await market.publisher()
    plain = [{k: v for k, v in auto_insurance_lead().items() if k != "consent"} for _ in range(2)]
    leads_xml = "".join(
        "<lead>" + "".join(f"<{k}>{v}</{k}>" for k, v in one.items()) + "</lead>" for one in plain
    )
    ndjson = "\n".join([json.dumps(auto_insurance_lead()), "[1, 2]", '{"first_name": ', ""])
    bodies = {
        "application/xml": f"<?xml version='1.0'?><leads>{leads_xml}</leads>".encode(),
        "application/x-ndjson": ndjson.encode(),
        # XML with a DTD is refused, never expanded: the file is one refused row.
        "text/xml": b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY e "x">]><lead><zip>&e;</zip></lead>',
    }
    outcomes = {}
    for media_type, body in bodies.items():
        answer = await market.client.post(
            "/v1/leads/batch?vertical=auto_insurance",
            content=body,
            headers={**publisher.auth, "Content-Type": media_type},
        )
        assert answer.status_code == 202, answer.text
        batch = await finished(market, answer.json()["batch_id"], publisher.auth)
        outcomes[media_type] = [(r["row"], r["status"]) for r in batch["rows"]]
        if media_type == "text/xml":
            assert batch["rows"][0]["errors"][0]["code"] == "unreadable_row"
    assert outcomes == {
        "application/xml": [(1, "unsold"), (2, "unsold")],
        "application/x-ndjson": [(1, "unsold"), (2, "rejected"), (3, "rejected")],
        "text/xml": [(1, "rejected")],
    }


async def test_dotted_columns_fill_nested_fields_such_as_consent(market: Market) -> None:
    publisher = await market.publisher()
    header = [*COLUMNS, "consent.text", "consent.timestamp"]
    body = csv_bytes([[*row(), "I agree to be contacted.", "2026-11-01T10:00:00Z"]], header=header)
    answer = await market.client.post(
        "/v1/leads/batch?vertical=auto_insurance",
        content=body,
        headers={**publisher.auth, "Content-Type": "text/csv"},
    )
    batch = await finished(market, answer.json()["batch_id"], publisher.auth)
    lead = (await market.client.get(f"/v1/leads/{batch['rows'][0]['lead_id']}", headers=market.admin)).json()
    assert lead["consent"]["text"] == "I agree to be contacted." and not lead.get("extra")
