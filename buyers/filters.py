"""Campaign filters: refuse a filter that cannot work at save time, and match leads against filters.

Every campaign's filters run on every lead, so filters are compiled once into small test functions
(cached by their encoded bytes) and a match is a handful of set lookups and comparisons.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from functools import lru_cache
from typing import Any, get_args

import msgspec

from buyers.campaigns import Filter, FilterOp
from exchange.errors import field_invalid
from exchange.pipeline.normalize import enum_key
from exchange.types import CANONICAL_FIELDS
from exchange.verticals import GRADES, FieldSpec, Vertical

Fields = dict[str, Any]
Test = Callable[[Fields, str | None], bool]
Number = int | Decimal

OPS: frozenset[str] = frozenset(get_args(FilterOp))
_EQUALITY_OPS = frozenset({"eq", "ne", "in", "not_in"})
_CANONICAL = frozenset(CANONICAL_FIELDS)
# Digits with an optional sign and fraction; no exponent, so a field can never make a huge Decimal.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_MAX_NUMBER_TEXT = 64
_INF = float("inf")
# Booleans in lead bodies are read from these words (CONTRACT.md); 1/0 match through numbers.
_BOOL_WORDS = {"true": True, "yes": True, "false": False, "no": False}


# Reading values: the same readers serve filter values (compile time) and lead fields (match time).


def _number(value: Any) -> Number | None:
    """A lead or filter value as an exact number, or None when it is not one (bools are not)."""
    if value.__class__ is int:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        # repr gives the shortest decimal that round-trips, so 0.1 equals the text "0.1".
        return Decimal(repr(value)) if value == value and value not in (_INF, -_INF) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > _MAX_NUMBER_TEXT or not _NUMBER.fullmatch(text):
            return None
        return Decimal(text) if "." in text else int(text)
    return None


def _text(value: Any) -> str | None:
    """A value's comparison text: trimmed and case-folded; dates as ISO text."""
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, date):
        return value.isoformat().casefold()
    return None


def _is_absent(value: Any) -> bool:
    """Missing, null, blank text or an empty list: what `exists: false` means."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value or value.isspace()
    if isinstance(value, list | tuple | dict | set | frozenset):
        return not value
    return False


def _is_scalar(value: Any) -> bool:
    if isinstance(value, float):
        return value == value and value not in (_INF, -_INF)
    return isinstance(value, str | int)  # bool is an int


# Shapes: what each op's value must look like. One function serves check_filters and compile.


def shape_problem(f: Filter) -> str | None:
    """Why the filter's value has the wrong shape for its op, or None when it is fine."""
    op, value = f.op, f.value
    if op not in OPS:
        return f"unknown op {op!r}"
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return f"{op} needs a non-empty list of values"
        if not all(_is_scalar(item) for item in value):
            return f"{op} takes a list of strings, numbers or booleans"
    elif op == "between":
        if not isinstance(value, list) or len(value) != 2:
            return "between needs a list [low, high]"
        low, high = value
        low_n, high_n = _number(low), _number(high)
        if low_n is not None and high_n is not None:
            if low_n > high_n:
                return "between needs low <= high"
        elif isinstance(low, str) and isinstance(high, str):
            if low.strip().casefold() > high.strip().casefold():
                return "between needs low <= high"
        else:
            return "between needs two numbers or two strings"
    elif op == "prefix":
        prefixes = value if isinstance(value, list) else [value]
        if not prefixes or not all(isinstance(p, str) and p.strip() for p in prefixes):
            return "prefix needs a non-blank string or a non-empty list of them"
    elif op == "exists":
        if not isinstance(value, bool):
            return "exists needs true or false"
    elif op in ("gte", "lte"):
        if _number(value) is None and not isinstance(value, str):
            return f"{op} needs a number or a string"
    elif not _is_scalar(value):
        return f"{op} needs one string, number or boolean"
    return None


def _listed(f: Filter) -> list[Any]:
    """The values an equality or ordering filter names, as a list."""
    return f.value if isinstance(f.value, list) else [f.value]


# Save time.


def check_filters(filters: Sequence[Filter], vertical: Vertical) -> None:
    """Refuse (422) the first filter that names an unknown field or has a value that cannot match."""
    for i, f in enumerate(filters):
        where = f"filters.{i}"
        if f.op not in OPS:
            raise field_invalid(f"{where}.op", "invalid_value", f"unknown op {f.op!r}")
        spec = vertical.spec(f.field)
        if f.field != "grade" and spec is None and f.field not in _CANONICAL:
            raise field_invalid(
                f"{where}.field",
                "unknown_field",
                f"{f.field!r} is not a canonical field, a field of {vertical.key} or grade",
            )
        problem = shape_problem(f) or _type_problem(f, spec)
        if problem is not None:
            raise field_invalid(f"{where}.value", "invalid_value", problem)


def _type_problem(f: Filter, spec: FieldSpec | None) -> str | None:
    """Why the filter's values can never match a field of this type, or None."""
    if f.op == "exists":
        return None
    values = _listed(f)
    if f.field == "grade":
        wrong = [v for v in values if not isinstance(v, str) or v.strip().upper() not in GRADES]
        return f"grade values are A, B, C or D, not {wrong[0]!r}" if wrong else None
    kind = spec.type if spec is not None else "str"
    if kind == "enum" and f.op in _EQUALITY_OPS:
        choices = _enum_choices(spec)
        for v in values:
            if not isinstance(v, str) or _canonical_enum(v, choices) is None:
                allowed = ", ".join(spec.values or []) if spec is not None else ""
                return f"{v!r} is not a value of {f.field}: one of {allowed}"
    elif kind == "int" and f.op != "prefix":
        for v in values:
            if _number(v) is None:
                return f"{f.field} is a whole number; {v!r} is not a number"
    elif kind == "bool":
        if f.op not in _EQUALITY_OPS:
            return f"{f.field} is true/false: use eq, ne, in, not_in or exists"
        for v in values:
            if not _is_bool_like(v):
                return f"{f.field} is true/false; {v!r} is not"
    elif kind == "date" and f.op != "prefix":
        for v in values:
            if not isinstance(v, str):
                return f"{f.field} is a date: compare it with a YYYY-MM-DD string, not {v!r}"
    return None


def _is_bool_like(value: Any) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, str):
        return value.strip().lower() in _BOOL_WORDS or value.strip() in ("0", "1")
    return isinstance(value, int) and value in (0, 1)


def _enum_choices(spec: FieldSpec | None) -> dict[str, str]:
    # As validation reads an enum: the exact spelling, else its enum_key form.
    values = (spec.values or []) if spec is not None else []
    return {enum_key(v): v for v in values} | {v: v for v in values}


def _canonical_enum(value: str, choices: dict[str, str]) -> str | None:
    return choices.get(value) or choices.get(enum_key(value))


def canonical_filters(filters: Sequence[Filter], vertical: Vertical) -> list[Filter]:
    """The filters with enum values in the vertical's spelling and grades in capitals, to store.

    Validation stores an enum in its canonical spelling ("single_family"), and matching compares
    case-insensitively only, so a filter saying "Single Family" must be stored as "single_family".
    Call after check_filters.
    """
    out: list[Filter] = []
    for f in filters:
        spec = vertical.spec(f.field)
        if f.field == "grade" and f.op != "exists":
            choices = {g.lower(): g for g in GRADES}
        elif spec is not None and spec.type == "enum" and f.op in _EQUALITY_OPS:
            choices = _enum_choices(spec)
        else:
            out.append(f)
            continue
        if isinstance(f.value, list):
            value: Any = [_respell(v, choices) for v in f.value]
        else:
            value = _respell(f.value, choices)
        out.append(msgspec.structs.replace(f, value=value))
    return out


def _respell(value: Any, choices: dict[str, str]) -> Any:
    return (_canonical_enum(value, choices) or value) if isinstance(value, str) else value


# Match time.


def _never(fields: Fields, grade: str | None) -> bool:
    return False


def _equality_test(name: str, is_grade: bool, values: list[Any], negate: bool) -> Test:
    """eq/in (negate=False) and ne/not_in (negate=True): text case-insensitive, numbers by value.

    Two texts compare as text ("02134" is not "2134"); a number and a numeric text by value.
    """
    texts: set[str] = set()
    numbers: set[Number] = set()  # from JSON numbers: a text field "2019" equals 2019
    every_number: set[Number] = set()  # also from numeric texts: a number field 2019 equals "2019"
    bools: set[bool] = set()
    for v in values:
        if isinstance(v, bool):
            bools.add(v)
            numbers.add(int(v))
            continue
        n = _number(v)
        if n is not None:
            every_number.add(n)
            if n in (0, 1):
                bools.add(n == 1)
        if isinstance(v, str):
            text = v.strip().casefold()
            texts.add(text)
            if text in _BOOL_WORDS:
                bools.add(_BOOL_WORDS[text])
        elif n is not None:
            numbers.add(n)
    every_number |= numbers
    frozen_texts = frozenset(texts)

    def equals_any(value: Any) -> bool:
        if isinstance(value, bool):
            return value in bools
        n = _number(value)
        return n is not None and n in every_number

    def test(fields: Fields, grade: str | None) -> bool:
        value = grade if is_grade else fields.get(name)
        if value.__class__ is str:
            # The usual case, a typed text field, costs a strip, a casefold and a set lookup.
            text = value.strip().casefold()
            if not text:
                return negate  # blank is missing
            if text in frozen_texts:
                return not negate
            if bools and text in _BOOL_WORDS:
                return (_BOOL_WORDS[text] in bools) is not negate
            if numbers:
                n = _number(text)
                return (n is not None and n in numbers) is not negate
            return negate
        if _is_absent(value):
            return negate
        return equals_any(value) is not negate

    return test


class _Bound:
    """One end of a range, readable as a number and/or as text."""

    __slots__ = ("number", "text")

    def __init__(self, value: Any) -> None:
        self.number = _number(value)
        self.text = _text(value) if isinstance(value, str) else None


def _order_test(name: str, is_grade: bool, low: Any, high: Any) -> Test:
    """between/gte/lte (inclusive): numbers when both sides are numbers, else text order.

    Text order is right for ISO dates: "1985-04-12" >= "1980-01-01".
    """
    bounds = [(_Bound(v), is_low) for v, is_low in ((low, True), (high, False)) if v is not None]
    lo = next((b.number for b, is_low in bounds if is_low), None)
    hi = next((b.number for b, is_low in bounds if not is_low), None)
    is_numeric = all(b.number is not None for b, _ in bounds)

    def within(value: Any) -> bool:
        n = _number(value)
        text = _text(value)
        for bound, is_low in bounds:
            if n is not None and bound.number is not None:
                ok = n >= bound.number if is_low else n <= bound.number
            elif text is not None and bound.text is not None:
                ok = text >= bound.text if is_low else text <= bound.text
            else:
                ok = False
            if not ok:
                return False
        return True

    def test(fields: Fields, grade: str | None) -> bool:
        value = grade if is_grade else fields.get(name)
        # The usual case, an int field against number bounds, is two comparisons.
        if value.__class__ is int and is_numeric:
            return (lo is None or value >= lo) and (hi is None or value <= hi)
        if _is_absent(value):
            return False
        return within(value)

    return test


def _prefix_test(name: str, is_grade: bool, prefixes: tuple[str, ...]) -> Test:
    def test(fields: Fields, grade: str | None) -> bool:
        value = grade if is_grade else fields.get(name)
        if isinstance(value, str):
            return value.strip().casefold().startswith(prefixes)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value).startswith(prefixes)
        return False

    return test


def _exists_test(name: str, is_grade: bool, wanted: bool) -> Test:
    def test(fields: Fields, grade: str | None) -> bool:
        value = grade if is_grade else fields.get(name)
        return _is_absent(value) is not wanted

    return test


def compile_filter(f: Filter) -> Test:
    """One filter as a test of (fields, grade); a filter of the wrong shape never passes."""
    if shape_problem(f) is not None:
        # Stored filters were checked; an unreadable one holds the campaign back rather than
        # letting every lead through.
        return _never
    name, is_grade, op, value = f.field, f.field == "grade", f.op, f.value
    if op in _EQUALITY_OPS:
        return _equality_test(name, is_grade, _listed(f), negate=op in ("ne", "not_in"))
    if op == "between":
        return _order_test(name, is_grade, value[0], value[1])
    if op == "gte":
        return _order_test(name, is_grade, value, None)
    if op == "lte":
        return _order_test(name, is_grade, None, value)
    if op == "prefix":
        prefixes = tuple(p.strip().casefold() for p in _listed(f))
        return _prefix_test(name, is_grade, prefixes)
    return _exists_test(name, is_grade, bool(value))


class FilterMatcher:
    """A campaign's filters compiled: call it with (fields, grade); all filters must pass."""

    __slots__ = ("_pairs", "_tests")

    def __init__(self, filters: Sequence[Filter]) -> None:
        self._pairs = tuple((f, compile_filter(f)) for f in filters)
        self._tests = tuple(test for _, test in self._pairs)

    def __call__(self, fields: Fields, grade: str | None) -> bool:
        for test in self._tests:
            if not test(fields, grade):
                return False
        return True

    def first_miss(self, fields: Fields, grade: str | None) -> Filter | None:
        for f, test in self._pairs:
            if not test(fields, grade):
                return f
        return None


_encoder = msgspec.msgpack.Encoder()


@lru_cache(maxsize=4096)
def _compiled(encoded: bytes) -> FilterMatcher:
    # Decoded without the Filter type: a stored filter with an unknown op still compiles (to never).
    return FilterMatcher([Filter(**item) for item in msgspec.msgpack.decode(encoded)])


def compile_filters(filters: Sequence[Filter]) -> FilterMatcher:
    """The matcher for these filters, compiled once per distinct list (an edit gets a new one)."""
    # The encoded list is a cheap exact key: Filter values may be lists, so Filters do not hash.
    try:
        encoded = _encoder.encode(filters if isinstance(filters, list) else list(filters))
    except OverflowError:  # an integer beyond 64 bits: rare enough to compile uncached
        return FilterMatcher(filters)
    return _compiled(encoded)


def matches(filters: Sequence[Filter], fields: Fields, grade: str | None) -> bool:
    """Whether a lead's fields and grade pass every filter (no filters: every lead)."""
    if not filters:
        return True
    return compile_filters(filters)(fields, grade)


def first_miss(filters: Sequence[Filter], fields: Fields, grade: str | None) -> Filter | None:
    """The first filter the lead fails, to explain why a campaign did not get it; None if all pass."""
    if not filters:
        return None
    return compile_filters(filters).first_miss(fields, grade)
