"""Filters: every op passing and failing, missing fields, save-time refusals, never a crash."""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buyers.campaigns import Filter
from buyers.filters import canonical_filters, check_filters, compile_filters, first_miss, matches
from exchange.errors import Invalid
from exchange.verticals import BUILTIN_VERTICALS

VERTICALS = {vertical.key: vertical for vertical in BUILTIN_VERTICALS}
AUTO = VERTICALS["auto_insurance"]
MORTGAGE = VERTICALS["mortgage"]
LEAD: dict[str, Any] = {
    "state": "CA",
    "zip": "94107",
    "city": "San Francisco",
    "vehicle_year": 2019,
    "vehicle_make": "Toyota",
    "date_of_birth": "1985-04-12",
    "currently_insured": True,
    "credit_rating": "good",
    "sub_id": "",
}


def f(field: str, op: str, value: Any = None) -> Filter:
    return Filter(field=field, op=op, value=value)  # type: ignore[arg-type]


def passes(flt: Filter, fields: dict[str, Any] = LEAD, grade: str | None = "B") -> bool:
    return matches([flt], fields, grade)


def refusal(filters: list[Filter], vertical: Any = AUTO) -> tuple[str, str]:
    with pytest.raises(Invalid) as caught:
        check_filters(filters, vertical)
    problem = caught.value.errors[0]
    assert caught.value.status_code == 422
    return problem.field, problem.message


# Each op, passing and failing.


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (f("state", "eq", "CA"), True),
        (f("state", "eq", "NV"), False),
        (f("state", "ne", "NV"), True),
        (f("state", "ne", "CA"), False),
        (f("state", "in", ["NV", "CA"]), True),
        (f("state", "in", ["NV", "AZ"]), False),
        (f("state", "not_in", ["NV", "AZ"]), True),
        (f("state", "not_in", ["NV", "CA"]), False),
        (f("vehicle_year", "between", [2015, 2020]), True),
        (f("vehicle_year", "between", [2019, 2019]), True),
        (f("vehicle_year", "between", [2020, 2025]), False),
        (f("vehicle_year", "gte", 2019), True),
        (f("vehicle_year", "gte", 2020), False),
        (f("vehicle_year", "lte", 2019), True),
        (f("vehicle_year", "lte", 2018), False),
        (f("zip", "prefix", "941"), True),
        (f("zip", "prefix", "900"), False),
        (f("zip", "prefix", ["900", "94"]), True),
        (f("zip", "prefix", ["900", "901"]), False),
        (f("zip", "exists", True), True),
        (f("zip", "exists", False), False),
        (f("email", "exists", False), True),
        (f("email", "exists", True), False),
    ],
)
def test_each_op_passes_or_fails(flt: Filter, expected: bool) -> None:
    assert passes(flt) is expected


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        (f("email", "eq", "a@b.co"), False),
        (f("email", "in", ["a@b.co"]), False),
        (f("email", "between", ["a", "z"]), False),
        (f("email", "gte", "a"), False),
        (f("email", "lte", "z"), False),
        (f("email", "prefix", "a"), False),
        (f("email", "exists", True), False),
        (f("email", "ne", "a@b.co"), True),
        (f("email", "not_in", ["a@b.co"]), True),
        (f("email", "exists", False), True),
    ],
)
def test_missing_field_fails_every_op_but_ne_not_in_and_exists_false(flt: Filter, expected: bool) -> None:
    assert passes(flt, {"state": "CA"}) is expected


@pytest.mark.parametrize("blank", [None, "", "   ", []])
def test_null_blank_or_empty_value_counts_as_missing(blank: Any) -> None:
    fields = {"sub_id": blank}

    assert not passes(f("sub_id", "exists", True), fields)
    assert passes(f("sub_id", "exists", False), fields)
    assert not passes(f("sub_id", "eq", ""), fields)
    assert passes(f("sub_id", "ne", "x"), fields)


def test_text_compares_case_insensitively() -> None:
    assert passes(f("state", "eq", "ca"))
    assert passes(f("state", "in", ["nv", "Ca"]))
    assert not passes(f("state", "not_in", ["ca"]))
    assert passes(f("city", "eq", "SAN FRANCISCO"))
    assert passes(f("vehicle_make", "prefix", "toy"))
    assert passes(f("state", "eq", "CA"), {"state": "  ca "})


def test_numbers_compare_by_value_whether_typed_or_text() -> None:
    assert passes(f("vehicle_year", "eq", 2019))
    assert passes(f("vehicle_year", "eq", "2019"))
    assert passes(f("vehicle_year", "eq", 2019), {"vehicle_year": "2019"})
    assert passes(f("vehicle_year", "eq", 2019.0))
    assert passes(f("vehicle_year", "in", ["2018", "2019"]))
    assert not passes(f("vehicle_year", "ne", "2019"))
    assert passes(f("vehicle_year", "gte", "2015"))
    assert passes(f("vehicle_year", "between", [2015, 2020]), {"vehicle_year": "2019"})
    assert passes(f("loan", "eq", "0.1"), {"loan": 0.1})
    assert passes(f("loan", "lte", 1), {"loan": Decimal("0.5")})


def test_two_texts_compare_as_text_so_zip_leading_zeros_count() -> None:
    assert not passes(f("zip", "eq", "2134"), {"zip": "02134"})
    assert passes(f("zip", "eq", "02134"), {"zip": "02134"})


def test_booleans_match_true_false_words_and_one_zero() -> None:
    assert passes(f("currently_insured", "eq", True))
    assert not passes(f("currently_insured", "eq", False))
    assert passes(f("currently_insured", "eq", "yes"))
    assert passes(f("currently_insured", "eq", 1))
    assert passes(f("currently_insured", "eq", True), {"currently_insured": "true"})
    assert passes(f("currently_insured", "ne", False))


def test_iso_dates_order_as_text() -> None:
    assert passes(f("date_of_birth", "lte", "1990-01-01"))
    assert passes(f("date_of_birth", "gte", "1980-01-01"))
    assert not passes(f("date_of_birth", "gte", "1986-01-01"))
    assert passes(f("date_of_birth", "between", ["1985-04-12", "1985-04-12"]))
    assert passes(f("date_of_birth", "lte", "1990"))  # a partial date is a prefix in text order
    assert passes(f("date_of_birth", "lte", "1990-01-01"), {"date_of_birth": date(1985, 4, 12)})


def test_number_bound_never_matches_text_that_is_not_a_number() -> None:
    assert not passes(f("vehicle_make", "gte", 5))
    assert not passes(f("date_of_birth", "gte", 1980))


def test_zip_prefixes_pick_out_areas() -> None:
    bay_area = f("zip", "prefix", ["940", "941", "945"])

    assert passes(bay_area, {"zip": "94107"})
    assert passes(bay_area, {"zip": "94025"})
    assert not passes(bay_area, {"zip": "90210"})
    assert not passes(bay_area, {"zip": "9410"[:2]})
    assert passes(f("zip", "prefix", "021"), {"zip": "02134"})
    assert passes(f("zip", "prefix", "94"), {"zip": 94107})  # an untyped number is read as its digits


def test_grade_is_filtered_like_a_field() -> None:
    best = f("grade", "in", ["A", "B"])

    assert passes(best, grade="A")
    assert not passes(best, grade="C")
    assert not passes(best, grade=None)
    assert passes(f("grade", "not_in", ["D"]), grade=None)
    assert passes(f("grade", "lte", "B"), grade="A")  # letter order: A and B
    assert not passes(f("grade", "lte", "B"), grade="C")
    assert passes(f("grade", "eq", "a"), grade="A")


def test_all_filters_must_pass() -> None:
    both = [f("state", "eq", "CA"), f("vehicle_year", "gte", 2020)]

    assert not matches(both, LEAD, "A")
    assert matches(both[:1], LEAD, "A")


def test_no_filters_match_every_lead() -> None:
    assert matches([], {}, None)
    assert first_miss([], {}, None) is None


def test_first_miss_names_the_first_failing_filter() -> None:
    filters = [f("state", "eq", "CA"), f("grade", "in", ["A"]), f("zip", "prefix", "900")]

    assert first_miss(filters, LEAD, "B") == filters[1]
    assert first_miss(filters, LEAD, "A") == filters[2]
    assert first_miss(filters[:1], LEAD, "A") is None


def test_compiled_matcher_is_reused_for_equal_filters() -> None:
    one = [f("state", "in", ["CA"])]
    same = [f("state", "in", ["CA"])]

    assert compile_filters(one) is compile_filters(same)
    assert compile_filters(one) is not compile_filters([f("state", "in", ["NV"])])


def test_unreadable_stored_filter_never_passes() -> None:
    assert not passes(f("state", "in", "CA"))
    assert not passes(f("state", "not_in", []))
    assert not passes(f("state", "between", [1]))
    assert not passes(f("state", "sounds_like", "CA"))


# Save-time refusals.


def test_canonical_vertical_and_grade_filters_are_accepted() -> None:
    check_filters(
        [
            f("state", "in", ["CA", "NV"]),
            f("sub_id", "prefix", "google"),
            f("vehicle_year", "between", [2010, 2026]),
            f("gender", "in", ["Male", "NON-BINARY"]),
            f("grade", "in", ["a", "B"]),
            f("date_of_birth", "lte", "2000-01-01"),
            f("currently_insured", "eq", True),
            f("homeowner", "exists", False),
            f("landing_page_url", "exists", True),
        ],
        AUTO,
    )


def test_unknown_field_is_refused_naming_it() -> None:
    field, message = refusal([f("state", "eq", "CA"), f("state", "eq", "NV"), f("loan_purpose", "eq", "x")])

    assert field == "filters.2.field"
    assert "loan_purpose" in message


@pytest.mark.parametrize(
    ("flt", "words"),
    [
        (f("state", "in", "CA"), "non-empty list"),
        (f("state", "in", []), "non-empty list"),
        (f("state", "not_in", [["CA"]]), "list of strings"),
        (f("vehicle_year", "between", [2010]), "[low, high]"),
        (f("vehicle_year", "between", [2020, 2010]), "low <= high"),
        (f("date_of_birth", "between", ["1990-01-01", "1980-01-01"]), "low <= high"),
        (f("vehicle_year", "between", [2010, "new"]), "two numbers or two strings"),
        (f("zip", "prefix", ""), "non-blank"),
        (f("zip", "prefix", []), "non-blank"),
        (f("zip", "prefix", ["94", 95]), "non-blank"),
        (f("zip", "exists", "yes"), "true or false"),
        (f("state", "eq", ["CA"]), "one string"),
        (f("state", "ne", None), "one string"),
        (f("vehicle_year", "gte", [2010]), "number or a string"),
        (f("vehicle_year", "lte", True), "number or a string"),
        (f("vehicle_year", "gte", "new"), "whole number"),
        (f("currently_insured", "gte", "yes"), "true/false"),
        (f("currently_insured", "eq", "maybe"), "true/false"),
        (f("date_of_birth", "lte", 1990), "date"),
    ],
)
def test_value_of_the_wrong_shape_is_refused(flt: Filter, words: str) -> None:
    field, message = refusal([f("state", "eq", "CA"), flt])

    assert field == "filters.1.value"
    assert words in message


def test_unknown_op_is_refused() -> None:
    assert refusal([f("state", "like", "C%")])[0] == "filters.0.op"


def test_enum_value_must_be_one_of_the_vertical_values() -> None:
    field, message = refusal([f("property_type", "in", ["condo", "castle"])], MORTGAGE)

    assert field == "filters.0.value"
    assert "castle" in message and "single_family" in message


def test_enum_values_are_read_like_validation_reads_them() -> None:
    check_filters([f("property_type", "in", ["Single Family", "CONDO", "multi-family"])], MORTGAGE)


def test_grade_values_must_be_a_to_d() -> None:
    field, message = refusal([f("grade", "in", ["A", "E"])])

    assert field == "filters.0.value"
    assert "'E'" in message


def test_canonical_filters_respell_enum_values_and_grades_so_leads_match() -> None:
    saved = [
        f("property_type", "in", ["Single Family", "CONDO"]),
        f("grade", "eq", "b"),
        f("state", "eq", "ca"),
    ]
    check_filters(saved, MORTGAGE)

    stored = canonical_filters(saved, MORTGAGE)

    assert stored == [
        f("property_type", "in", ["single_family", "condo"]),
        f("grade", "eq", "B"),
        f("state", "eq", "ca"),
    ]
    lead = {"property_type": "single_family", "state": "CA"}
    assert matches(stored, lead, "B")
    assert not matches(saved, lead, "B")


# Never a crash.

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["CA", "94107", "2019", "1985-04-12", "yes", "0", " ", "1e5", "-3.5", "nan"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)
_field_value = _json | st.dates() | st.decimals() | st.just(math.inf) | st.binary(max_size=4)
_names = st.sampled_from(["state", "zip", "vehicle_year", "date_of_birth", "grade", "x"])
_filter = st.builds(
    Filter,
    field=_names,
    op=st.sampled_from(["eq", "ne", "in", "not_in", "between", "gte", "lte", "prefix", "exists"]),
    value=_json,
)


@settings(max_examples=400)
@given(
    filters=st.lists(_filter, max_size=5),
    fields=st.dictionaries(_names | st.text(max_size=5), _field_value, max_size=6),
    grade=st.none() | st.sampled_from(["A", "B", "C", "D", "a", ""]),
)
def test_matching_never_raises_and_first_miss_agrees(
    filters: list[Filter], fields: dict[str, Any], grade: str | None
) -> None:
    result = matches(filters, fields, grade)
    miss = first_miss(filters, fields, grade)

    assert isinstance(result, bool)
    assert (miss is None) is result
    assert result == all(matches([one], fields, grade) for one in filters)
