from __future__ import annotations

from pathlib import Path

import pytest

from adapters.inbound import parse_adf_prospects, parse_lead_body
from exchange.errors import BadRequest

FIXTURES = Path(__file__).parents[1] / "fixtures" / "inbound"
XML = "application/xml"


def _fields(name: str) -> dict[str, object]:
    parsed = parse_lead_body((FIXTURES / name).read_bytes(), XML)
    assert parsed.vertical_hint == "auto_sales"
    return parsed.fields


def _adf(contact: str, extra: str = "") -> bytes:
    return (
        f"<adf><prospect><requestdate>2024-01-01</requestdate>{extra}"
        f"<customer><contact>{contact}</contact></customer></prospect></adf>"
    ).encode()


def test_namespaced_adf_maps_contact_address_vehicle_and_vendor() -> None:
    fields = _fields("adf_namespaced.xml")
    vehicles = fields.pop("vehicles")
    assert fields == {
        "first_name": "Maria",
        "last_name": "Gonzalez",
        "email": "maria.gonzalez@example.org",
        "phone": "312-555-0142",
        "address": "1200 W Lake St Apt 4",
        "city": "Chicago",
        "state": "IL",
        "zip": "60607",
        "request_date": "2024-03-02T09:15:00-05:00",
        "interest": "lease",
        "vehicle_status": "new",
        "vehicle_year": "2024",
        "vehicle_make": "Hyundai",
        "vehicle_model": "Ioniq 5",
        "vehicle_trim": "SEL",
        "vehicle_price_cents": 4525000,
        "timeframe": "2024-03-10 to 2024-04-10",
        "vendor_name": "Lakeside Hyundai",
        "provider_name": "CarsDirect",
    }
    assert vehicles == [
        {
            "interest": "lease",
            "status": "new",
            "year": "2024",
            "make": "Hyundai",
            "model": "Ioniq 5",
            "trim": "SEL",
            "price": "$45,250",
            "price_cents": 4525000,
        }
    ]


def test_trade_in_vehicle_fills_trade_in_fields_and_not_the_vehicle_of_interest() -> None:
    fields = _fields("adf_trade_in.xml")
    assert fields["trade_in_year"] == "2016"
    assert fields["trade_in_make"] == "Honda"
    assert fields["trade_in_model"] == "Civic"
    assert fields["trade_in_mileage"] == 84312
    assert (fields["interest"], fields["vehicle_make"], fields["vehicle_model"]) == (
        "buy",
        "Toyota",
        "RAV4",
    )
    assert fields["vehicle_price_cents"] == 2899500
    assert [v["interest"] for v in fields["vehicles"]] == ["trade-in", "buy"]  # type: ignore[attr-defined]


def test_placeholder_text_is_dropped() -> None:
    fields = _fields("adf_trade_in.xml")
    assert "last_name" not in fields  # <name part="last">N/A</name>
    assert "email" not in fields  # <email>none</email>


def test_customer_comments_and_timeframe_description_are_stripped_text() -> None:
    fields = _fields("adf_trade_in.xml")
    assert fields["comments"] == "Would like an appraisal for my Civic."
    assert fields["timeframe"] == "Within a month"


def test_vendor_name_falls_back_to_the_vendor_contact_name() -> None:
    assert _fields("adf_trade_in.xml")["vendor_name"] == "Rose City Toyota"


def test_full_name_splits_at_first_space() -> None:
    fields = _fields("adf_full_name.xml")
    assert (fields["first_name"], fields["last_name"]) == ("Anne", "Marie van der Berg")


def test_one_word_full_name_gives_a_first_name_only() -> None:
    fields = parse_lead_body(_adf('<name part="full">Cher</name>'), XML).fields
    assert fields["first_name"] == "Cher"
    assert "last_name" not in fields


def test_name_parts_win_over_a_full_name() -> None:
    contact = '<name part="full">J Smith</name><name part="first">John</name>'
    fields = parse_lead_body(_adf(contact), XML).fields
    assert (fields["first_name"], fields["last_name"]) == ("John", "Smith")


def test_phone_prefers_voice_or_cell_over_fax() -> None:
    contact = '<phone type="fax">111</phone><phone type="voice">222</phone>'
    assert parse_lead_body(_adf(contact), XML).fields["phone"] == "222"


def test_phone_falls_back_to_the_first_when_none_is_voice() -> None:
    assert _fields("adf_full_name.xml")["phone"] == "555-0001"


def test_unparseable_price_is_left_out() -> None:
    fields = _fields("adf_full_name.xml")
    assert "vehicle_price_cents" not in fields
    assert fields["vehicles"][0]["price"] == "Call for price"  # type: ignore[index]


@pytest.mark.parametrize(
    ("price", "cents"),
    [
        ("23999", 2399900),
        ("23,999.00", 2399900),
        ("23999.5", 2399950),
        ("$1,234,567.89", 123456789),
        ("18500 USD", 1850000),
        ("23.999,00", None),
        ("12-15k", None),
        ("call", None),
    ],
)
def test_price_in_currency_units_becomes_integer_cents(price: str, cents: int | None) -> None:
    vehicle = f'<vehicle interest="buy"><year>2024</year><price>{price}</price></vehicle>'
    fields = parse_lead_body(_adf('<name part="first">A</name>', vehicle), XML).fields
    assert fields.get("vehicle_price_cents") == cents


def test_relative_price_is_not_taken_as_the_vehicle_price() -> None:
    vehicle = '<vehicle><price delta="relative" relativeto="msrp">-500</price></vehicle>'
    fields = parse_lead_body(_adf('<name part="first">A</name>', vehicle), XML).fields
    assert "vehicle_price_cents" not in fields


def test_street_lines_join_in_line_order() -> None:
    assert _fields("adf_namespaced.xml")["address"] == "1200 W Lake St Apt 4"


def test_adf_in_latin1_is_decoded_from_its_declaration() -> None:
    fields = _fields("adf_two_prospects.xml")
    assert (fields["first_name"], fields["last_name"]) == ("Zoë", "Müller")


def test_lead_body_takes_the_first_prospect_and_parse_adf_prospects_all() -> None:
    body = (FIXTURES / "adf_two_prospects.xml").read_bytes()
    assert parse_lead_body(body, XML).fields["first_name"] == "Zoë"
    prospects = parse_adf_prospects(body)
    assert [p["first_name"] for p in prospects] == ["Zoë", "Cher"]
    assert prospects[1]["interest"] == "test-drive"
    assert prospects[1]["phone"] == "937-555-0110"


def test_adf_without_a_prospect_is_refused_naming_it() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_lead_body(b"<adf></adf>", XML)
    assert caught.value.code == "malformed_adf"
    assert "<prospect>" in caught.value.message


def test_parse_adf_prospects_refuses_a_root_other_than_adf() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_adf_prospects(b"<lead><first_name>A</first_name></lead>")
    assert caught.value.code == "malformed_adf"
    assert "<adf>" in caught.value.message


def test_parse_adf_prospects_refuses_an_empty_body() -> None:
    with pytest.raises(BadRequest) as caught:
        parse_adf_prospects(b"\n")
    assert caught.value.code == "empty_body"
