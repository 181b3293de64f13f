"""Campaign pricing: what a campaign pays for a lead of a grade, by fixed price or by bid.

A price under the vertical's floor for the grade is no price at all. Money is integer cents;
buyers' prices in currency units ("12.50") are read exactly with decimal arithmetic.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from buyers.campaigns import BidPricing, FixedPricing
from exchange.errors import field_invalid
from exchange.verticals import GRADES


def check_pricing(pricing: FixedPricing | BidPricing) -> None:
    """Refuse (422) a price for a grade other than A-D, a negative price, or no price at all."""
    if isinstance(pricing, BidPricing):
        if pricing.floor_cents < 0:
            raise field_invalid("pricing.floor_cents", "out_of_range", "must be >= 0")
        return
    if not pricing.cents_by_grade:
        raise field_invalid("pricing.cents_by_grade", "required", "price at least one grade (A-D)")
    for grade, cents in pricing.cents_by_grade.items():
        where = f"pricing.cents_by_grade.{grade}"
        if grade not in GRADES:
            raise field_invalid(where, "invalid_value", "grade must be A, B, C or D")
        if cents < 0:
            raise field_invalid(where, "out_of_range", "must be >= 0")


def fixed_price(pricing: FixedPricing, grade: str | None, floor_cents_by_grade: dict[str, int]) -> int | None:
    """The campaign's price for the grade; None when it does not price the grade or is under the floor."""
    if grade is None:
        return None
    cents = pricing.cents_by_grade.get(grade)
    if cents is None or cents < floor_cents_by_grade.get(grade, 0):
        return None
    return cents


def least_bid(pricing: BidPricing, grade: str | None, floor_cents_by_grade: dict[str, int]) -> int:
    """The least bid the campaign could buy at: its own floor or the vertical's for the grade."""
    return max(pricing.floor_cents, floor_cents_by_grade.get(grade or "", 0))


def bid_price(
    pricing: BidPricing, bid_cents: int | None, grade: str | None, floor_cents_by_grade: dict[str, int]
) -> int | None:
    """The bid when it reaches the campaign's floor and the vertical's floor for the grade, else None.

    An ungraded lead has no vertical floor (floors are by grade); the campaign's floor still holds.
    """
    if bid_cents is None or bid_cents < 0:
        return None
    vertical_floor = floor_cents_by_grade.get(grade, 0) if grade is not None else 0
    if bid_cents < pricing.floor_cents or bid_cents < vertical_floor:
        return None
    return bid_cents


# "$1,234.50", "1234.5", "12", ".5": a dollar sign, then digits with optional thousands commas.
# A comma not grouping thousands ("12,50") is refused rather than guessed at.
_UNITS = re.compile(r"\$?\s*((?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d*)?|\.\d+)", re.ASCII)
_MAX_TEXT = 40  # a price is short; a longer text is not one
_CENT = Decimal("0.01")


def cents_from_units(text: str | int | float) -> int | None:
    """A price in currency units as integer cents, rounded half up: "12.50" → 1250, 12.5 → 1250.

    None for a negative, NaN, infinite, empty or unreadable price.
    """
    if isinstance(text, bool):
        return None
    if isinstance(text, int):
        return text * 100 if text >= 0 else None
    if isinstance(text, float):
        # repr is the shortest decimal that reads back as this float: 12.675 stays 12.675.
        amount = Decimal(repr(text))
    elif isinstance(text, str):
        match = _UNITS.fullmatch(text.strip()) if len(text) <= _MAX_TEXT else None
        if match is None:
            return None
        amount = Decimal(match.group(1).replace(",", ""))
    else:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    try:
        return int(amount.quantize(_CENT, rounding=ROUND_HALF_UP).scaleb(2))
    except InvalidOperation:  # more digits than the decimal context holds: not a real price
        return None
