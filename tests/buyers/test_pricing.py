"""Pricing: fixed prices and bids against floors, and prices in currency units read exactly as cents."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buyers.campaigns import BidPricing, FixedPricing
from buyers.pricing import bid_price, cents_from_units, check_pricing, fixed_price
from exchange.errors import Invalid

FLOORS = {"A": 2000, "B": 1500, "C": 800}
FIXED = FixedPricing(cents_by_grade={"A": 2500, "B": 1200, "D": 300})


def refused_field(pricing: FixedPricing | BidPricing) -> str:
    with pytest.raises(Invalid) as caught:
        check_pricing(pricing)
    return caught.value.errors[0].field


def test_prices_by_grade_and_bid_floors_are_accepted() -> None:
    check_pricing(FIXED)
    check_pricing(BidPricing(floor_cents=0))


def test_price_for_a_grade_other_than_a_to_d_is_refused() -> None:
    assert refused_field(FixedPricing(cents_by_grade={"A": 100, "E": 50})) == "pricing.cents_by_grade.E"
    assert refused_field(FixedPricing(cents_by_grade={"a": 100})) == "pricing.cents_by_grade.a"


def test_negative_prices_are_refused() -> None:
    assert refused_field(FixedPricing(cents_by_grade={"B": -1})) == "pricing.cents_by_grade.B"
    assert refused_field(BidPricing(floor_cents=-5)) == "pricing.floor_cents"


def test_fixed_pricing_without_any_grade_is_refused() -> None:
    assert refused_field(FixedPricing(cents_by_grade={})) == "pricing.cents_by_grade"


def test_fixed_price_is_the_grade_price_at_or_above_the_floor() -> None:
    assert fixed_price(FIXED, "A", FLOORS) == 2500
    assert fixed_price(FIXED, "A", {"A": 2500}) == 2500


def test_fixed_price_under_the_vertical_floor_is_no_price() -> None:
    assert fixed_price(FIXED, "B", FLOORS) is None


def test_fixed_price_for_an_unpriced_grade_or_no_grade_is_no_price() -> None:
    assert fixed_price(FIXED, "C", FLOORS) is None
    assert fixed_price(FIXED, None, FLOORS) is None


def test_fixed_price_for_a_grade_without_a_floor_stands() -> None:
    assert fixed_price(FIXED, "D", FLOORS) == 300
    assert fixed_price(FIXED, "B", {}) == 1200


def test_bid_counts_when_it_reaches_both_floors() -> None:
    bid = BidPricing(floor_cents=1000)

    assert bid_price(bid, 2000, "A", FLOORS) == 2000
    assert bid_price(bid, 1999, "A", FLOORS) is None  # under the vertical's floor for A
    assert bid_price(bid, 900, "C", FLOORS) is None  # under the campaign's floor
    assert bid_price(bid, 1000, "C", FLOORS) == 1000
    assert bid_price(bid, 1000, "D", FLOORS) == 1000


def test_no_bid_or_a_negative_bid_is_no_price() -> None:
    assert bid_price(BidPricing(), None, "A", FLOORS) is None
    assert bid_price(BidPricing(), -1, "D", FLOORS) is None


def test_bid_on_an_ungraded_lead_needs_only_the_campaign_floor() -> None:
    assert bid_price(BidPricing(floor_cents=500), 500, None, FLOORS) == 500
    assert bid_price(BidPricing(floor_cents=500), 499, None, FLOORS) is None


@pytest.mark.parametrize(
    ("units", "cents"),
    [
        ("12.50", 1250),
        ("12", 1200),
        ("$1,234.5", 123450),
        ("1,234,567.89", 123456789),
        (" $ 7.05 ", 705),
        (".5", 50),
        ("0", 0),
        ("0.004", 0),
        ("0.005", 1),  # half a cent rounds up
        ("2.675", 268),  # exact: the float 2.675 would round down
        ("12.4999", 1250),
        (12.5, 1250),
        (0.1 + 0.2, 30),
        (2.675, 268),  # read through the float's shortest decimal, 2.675
        (12, 1200),
        (0, 0),
    ],
)
def test_price_in_units_is_read_as_cents(units: str | int | float, cents: int) -> None:
    assert cents_from_units(units) == cents


@pytest.mark.parametrize(
    "units",
    ["", "   ", "-1", "-0.01", "$-5", "abc", "NaN", "nan", "Infinity", "1e3", "12,50", "1,23.4", "12.5.0",
     "$", ".", "1 000", "9" * 60, -1, -0.5, float("nan"), float("inf"), 1e300, True, None],
)  # fmt: skip
def test_unreadable_or_negative_price_is_none(units: object) -> None:
    assert cents_from_units(units) is None  # type: ignore[arg-type]


@given(cents=st.integers(0, 10**15))
def test_cents_written_as_units_read_back(cents: int) -> None:
    dollars, rest = divmod(cents, 100)

    assert cents_from_units(f"{dollars}.{rest:02d}") == cents
    assert cents_from_units(f"${dollars:,}.{rest:02d}") == cents
