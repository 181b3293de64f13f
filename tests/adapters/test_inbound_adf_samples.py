"""Real ADF documents from the field (shared/samples/adf), when that folder is present."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapters.inbound import parse_adf_prospects, parse_lead_body
from exchange.errors import BadRequest
from exchange.pipeline.batches import format_of_name, read_rows

SAMPLES = Path(__file__).parents[2].parent / "shared" / "samples" / "adf"
HOSTILE = {"seorylie_xxe_attack.xml"}


def _samples() -> list[str]:
    if not SAMPLES.is_dir():
        return []
    return sorted(path.name for path in SAMPLES.glob("*.xml") if path.name not in HOSTILE)


@pytest.fixture
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"no ADF samples at {SAMPLES}")
    return SAMPLES


@pytest.mark.parametrize("name", _samples() or ["(no samples)"])
def test_each_sample_has_a_first_name_and_a_way_to_reach_the_person(samples_dir: Path, name: str) -> None:
    parsed = parse_lead_body((samples_dir / name).read_bytes(), "application/xml")
    assert parsed.vertical_hint == "auto_sales"
    fields = parsed.fields
    assert fields.get("first_name")
    assert fields.get("phone") or fields.get("email")
    assert parse_adf_prospects((samples_dir / name).read_bytes())[0] == fields


def test_two_vehicle_sample_keeps_both_vehicles(samples_dir: Path) -> None:
    body = (samples_dir / "adf_builder_readme_two_vehicles.xml").read_bytes()
    vehicles = parse_lead_body(body, "application/xml").fields["vehicles"]
    assert [(v["make"], v["model"]) for v in vehicles] == [
        ("Ford", "F-150"),
        ("Tesla", "Cybertruck"),
    ]


def test_xxe_sample_is_refused_as_unsafe(samples_dir: Path) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body((samples_dir / "seorylie_xxe_attack.xml").read_bytes(), "application/xml")
    assert caught.value.code == "unsafe_xml"


def test_broken_instruction_sample_reads_its_contact(samples_dir: Path) -> None:
    body = (samples_dir / "spec_minimal_lead.xml").read_bytes()
    fields = parse_lead_body(body, "application/xml").fields
    assert (fields["first_name"], fields["last_name"], fields["phone"]) == (
        "John",
        "Doe",
        "393-999-3922",
    )
    assert fields["vendor_name"] == "Acura of Bellevue"


@pytest.mark.parametrize("name", _samples() or ["(no samples)"])
def test_each_sample_dropped_as_a_file_is_a_batch_of_its_prospects(samples_dir: Path, name: str) -> None:
    data = (samples_dir / name).read_bytes()
    rows = list(read_rows(format_of_name(name) or "", data))
    assert [fields for _, fields in rows] == parse_adf_prospects(data)
    assert [number for number, _ in rows] == list(range(1, len(rows) + 1))


def test_a_hostile_sample_dropped_as_a_file_is_one_refused_row(samples_dir: Path) -> None:
    for name in HOSTILE:
        rows = list(read_rows("xml", (samples_dir / name).read_bytes()))
        assert len(rows) == 1 and isinstance(rows[0][1], str) and "unreadable XML" in rows[0][1]
