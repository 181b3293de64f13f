"""Fuzzed response rules and buyer answers: a rule is saved or refused with the field at fault,
and reading any answer with any rule gives a BuyerAnswer, never an exception, in bounded time.

Rules use odd dotted paths, XPath (unknown prefixes and functions, namespace axes) and regular
expressions (PCRE spellings, nested repeats); answers are JSON, XML and text with odd charsets.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import example, given
from hypothesis import strategies as st

from buyers.campaigns import Accepted, ResponseRule
from buyers.responses import MAX_VALUE_CHARS, BuyerAnswer, check_response_rule, read_answer
from exchange.errors import Invalid
from tests.adapters.test_fuzz_parsers import json_values, render, xml_trees
from tests.fuzz_profile import CHARSET_LABELS, fuzz, mutated

PREFIX = "delivery.post.response"
RULE_CODES = {"invalid_rule", "invalid_path", "invalid_xpath", "invalid_regex"}

SEGMENTS = ("status", "Status", "result", "data", "0", "1", "-1", "$", "@id", "a-b", "é", "a b", "", "9" * 30)
json_paths = st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=5).map(".".join) | st.sampled_from(
    ("", " ", ".", "a..b", ".a", "a.", "x" * 1001, "\x00")
)
xpaths = st.sampled_from(
    (
        "//status",
        "/answer/result",
        "count(//*)",
        "string(//price)",
        "boolean(//ok)",
        "//a[@x='1']",
        "//*[local-name()='status']",
        "//p:status",
        "//text()",
        "//@id",
        "//status | //code",
        "concat(//a, //b)",
        "document('x')",
        "//a[",
        "\x00",
        "//\ud800",
        "/*/namespace::*",
        "1 div 0",
        "number('abc')",
        "sum(//price)",
        "re:test(//a, 'x')",
        "//" + "a/" * 300 + "b",
        "",
    )
)
# Atoms of a regex: at most one unbounded repeat next to plain parts, plus whole patterns that
# nest repeats (refused as exponential) or are not patterns at all.
REGEX_ATOMS = ("^", "$", "SUCCESS", "ok", "|", "(?i)", "\\z", "[^]]", "=", ":", "(?<=a)", "(?<!b)", "\\d{2}")
STARRED_ATOMS = ("(\\d+)", "(?<price>[0-9.]+)", "(?'ref'\\w+)", ".*?", "\\s*", "(.*)", "[a-z]+")
WHOLE_PATTERNS = (
    "(a+)+$",
    "(a|aa)+$",
    "(.*)*x",
    "(\\w+\\s?)+$",
    "(?<n>x)\\k<n>",
    "\\k<missing>",
    "(",
    "[",
    "a{99999999999}",
    "(?P<1>x)",
    "\\",
    "\ud800",
    "(?<=a+)b",
)
regexes = st.sampled_from(WHOLE_PATTERNS) | st.builds(
    lambda before, starred, after: before + starred + after,
    st.lists(st.sampled_from(REGEX_ATOMS), max_size=2).map("".join),
    st.sampled_from(("", *STARRED_ATOMS)),
    st.lists(st.sampled_from(REGEX_ATOMS), max_size=2).map("".join),
)
equals = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.just([1])
    | st.just({})
)


@st.composite
def rules(draw: st.DrawFn) -> ResponseRule:
    format = draw(st.sampled_from(("json", "xml", "text")))
    own = {"json": json_paths, "xml": xpaths, "text": regexes}[format]
    expressions = draw(st.sampled_from((own, own, json_paths, xpaths, regexes)))  # mostly its own kind
    path = regex = None
    if format == "text":
        regex = draw(st.none() | expressions) if draw(st.integers(0, 9)) == 0 else draw(expressions)
    else:
        path = draw(st.none() | expressions) if draw(st.integers(0, 9)) == 0 else draw(expressions)
    if draw(st.integers(0, 9)) == 0:  # both, or the other kind
        path, regex = draw(st.none() | json_paths), draw(st.none() | regexes)
    parts = {name: draw(st.none() | expressions) for name in ("price", "reason", "reference")}
    return ResponseRule(
        format=format, accepted=Accepted(path=path, regex=regex, equals=draw(equals)), **parts
    )


text_answers = st.text(max_size=300) | st.sampled_from(
    ("SUCCESS", "SUCCESS|1234|12.50", "a" * 500 + "b", " " * 500, "ok=1&price=9.99", "\ufeffSUCCESS")
)


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, str | None]:
    kind = draw(st.sampled_from(("json", "xml", "text", "bytes")))
    if kind == "json":
        body = msgspec.json.encode(draw(json_values))
    elif kind == "xml":
        namespace = draw(st.sampled_from(("", ' xmlns="urn:buyer"', ' xmlns:p="urn:p"')))
        body = render(draw(xml_trees), "answer").replace("<answer", f"<answer{namespace}", 1).encode()
    elif kind == "text":
        body = draw(text_answers).encode(draw(st.sampled_from(("utf-8", "utf-16", "latin-1"))), "replace")
    else:
        body = draw(st.binary(max_size=200))
    if draw(st.booleans()):
        body = draw(mutated(st.just(body)))
    label = draw(st.none() | st.sampled_from(CHARSET_LABELS))
    media_type = draw(st.sampled_from(("application/json", "text/xml", "text/plain", "")))
    return body, media_type if label is None else f"{media_type}; charset={label}"


def is_saved(rule: ResponseRule) -> bool:
    try:
        check_response_rule(rule, PREFIX)
    except Invalid as error:
        assert error.status_code == 422
        [problem] = error.errors
        assert problem.field.startswith(PREFIX + ".")
        assert problem.code in RULE_CODES and problem.message
        return False
    return True


@fuzz(200)
@given(rules())
@example(ResponseRule(format="text", accepted=Accepted(regex="(a+)+$")))
@example(ResponseRule(format="text", accepted=Accepted(regex="(a|aa)+$")))
def test_a_rule_is_saved_or_refused_naming_its_field(rule: ResponseRule) -> None:
    is_saved(rule)


def regex_rule(pattern: str) -> ResponseRule:
    return ResponseRule(format="text", accepted=Accepted(regex=pattern))


@fuzz(200)
@given(rules(), st.sampled_from((200, 201, 204, 299, 302, 400, 404, 500, 0, 999)), answers())
@example(regex_rule("(a+)+$"), 200, (b"a" * 40 + b"b", "text/plain"))
@example(regex_rule("ok"), 200, (b"ok", "text/plain; charset=\x00"))
def test_any_answer_is_read_with_any_rule(rule: ResponseRule, status: int, answer: tuple[bytes, Any]) -> None:
    body, content_type = answer
    saved = is_saved(rule)
    read = read_answer(rule, status, body, content_type)
    assert isinstance(read, BuyerAnswer)
    if read.accepted:
        assert 200 <= status < 300
    assert read.price_cents is None or (isinstance(read.price_cents, int) and read.price_cents >= 0)
    assert read.reference is None or 0 < len(read.reference) <= MAX_VALUE_CHARS
    if saved:  # a rule that was saved is never found invalid when an answer is read with it
        assert not (read.reason or "").startswith("invalid response rule")


@fuzz(100)
@given(st.sampled_from((200, 204, 301, 400, 503)), answers())
def test_without_a_rule_a_2xx_accepts(status: int, answer: tuple[bytes, Any]) -> None:
    assert read_answer(None, status, *answer).accepted == (200 <= status < 300)
