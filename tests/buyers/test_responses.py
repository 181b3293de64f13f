"""Response rules: reading buyers' JSON, XML and text answers, and refusing unusable rules."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from buyers.campaigns import Accepted, ResponseRule
from buyers.responses import BuyerAnswer, check_response_rule, python_regex, read_answer
from exchange.errors import Invalid

SAMPLES = Path(__file__).parents[2].parent / "shared" / "samples" / "buyer_responses"
JSON = "application/json"
PREFIX = "delivery.post.response"


def rule(format: str, accepted: dict[str, Any], **parts: str) -> ResponseRule:
    return msgspec.convert({"format": format, "accepted": accepted, **parts}, ResponseRule)


def refusal(response_rule: ResponseRule) -> tuple[str, str]:
    with pytest.raises(Invalid) as caught:
        check_response_rule(response_rule, PREFIX)
    assert caught.value.status_code == 422
    [error] = caught.value.errors
    return error.field, error.code


# A personal-loan buyer's answers (the shapes of ../shared/samples/buyer_responses), kept here
# so the suite always runs them.
LOAN_SUCCESS = b"""{"LeadID": "5553573415", "Status": "Success", "MatchType": "match",
  "CCBannerABCTest": "", "Commision": "0.0", "TYPageLink": "https%3A%2F%2Fexample.com%2Fdone"}"""
LOAN_CONFIRMATION = b"""{"LeadID": "5553650215", "Status": "Success", "MatchType": "match",
  "Commision": "12.75", "TYPageLink": "https%3A%2F%2Fexample.com%2Fhostpost%2Fcompletion.html"}"""
LOAN_REQUIRED_FIELD = (
    b'{"Status": "Failure", "LeadID": "5553658315", "Reason": "EmploymentStatus-Required field"}'
)
LOAN_RANGE = b"""{"Status": "Failure", "LeadID": "5553586215",
  "Reason": "hostPostFailureReason-Loan Amount should be between $ 100 & $ 50000"}"""
LOAN_RULE = rule(
    "json",
    {"path": "Status", "equals": "success"},
    price="Commision",
    reason="Reason",
    reference="LeadID",
)
# The two-step confirmation: the sale stands when the buyer hands back its completion page.
CONFIRMATION_RULE = rule("json", {"path": "TYPageLink"}, reference="LeadID", price="Commision")


def test_loan_buyer_success_reads_its_lead_id_and_commission() -> None:
    assert read_answer(LOAN_RULE, 200, LOAN_SUCCESS, JSON) == BuyerAnswer(
        accepted=True, price_cents=0, reference="5553573415"
    )


def test_loan_buyer_field_errors_are_the_reason() -> None:
    assert read_answer(LOAN_RULE, 200, LOAN_REQUIRED_FIELD, JSON) == BuyerAnswer(
        accepted=False, reason="EmploymentStatus-Required field", reference="5553658315"
    )
    answer = read_answer(LOAN_RULE, 200, LOAN_RANGE, JSON)
    assert not answer.accepted
    assert answer.reason == "hostPostFailureReason-Loan Amount should be between $ 100 & $ 50000"


def test_two_step_confirmation_accepts_on_the_completion_link() -> None:
    assert read_answer(CONFIRMATION_RULE, 200, LOAN_CONFIRMATION, JSON) == BuyerAnswer(
        accepted=True, price_cents=1275, reference="5553650215"
    )
    assert not read_answer(CONFIRMATION_RULE, 200, LOAN_RANGE, JSON).accepted


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples are not beside the project")
@pytest.mark.parametrize(
    ("name", "accepted", "reason"),
    [
        ("pl_post_success_match.json", True, None),
        ("pl_post_confirmation_step_success.json", True, None),
        ("pl_post_failure_required_field.json", False, "EmploymentStatus-Required field"),
        ("pl_post_failure_loan_amount_range.json", False, "hostPostFailureReason-Loan Amount"),
    ],
)
def test_real_loan_buyer_answers_read_with_the_rule(name: str, accepted: bool, reason: str | None) -> None:
    body = (SAMPLES / name).read_bytes()
    answer = read_answer(LOAN_RULE, 200, body, JSON)
    assert answer.accepted is accepted
    assert answer.reference is not None and answer.reference.isdigit()
    if reason is None:
        assert answer.reason is None
        assert answer.price_cents == 0
    else:
        assert answer.reason is not None and answer.reason.startswith(reason)
    assert read_answer(CONFIRMATION_RULE, 200, body, JSON).accepted is accepted


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared samples are not beside the project")
def test_every_real_loan_buyer_answer_passes_the_save_time_check() -> None:
    for response_rule in (LOAN_RULE, CONFIRMATION_RULE):
        check_response_rule(response_rule, PREFIX)
    assert sorted(path.name for path in SAMPLES.glob("*.json"))


# --- no rule -----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "accepted"), [(200, True), (201, True), (204, True), (302, False)])
def test_without_a_rule_any_2xx_accepts(status: int, accepted: bool) -> None:
    assert read_answer(None, status, b"whatever", None).accepted is accepted


def test_without_a_rule_a_refusal_names_the_status() -> None:
    assert read_answer(None, 500, b"", None) == BuyerAnswer(accepted=False, reason="HTTP 500")


# --- json --------------------------------------------------------------------------------


def test_contract_ping_rule_reads_acceptance_and_bid() -> None:
    ping_rule = rule("json", {"path": "status", "equals": "ok"}, price="bid")
    assert read_answer(ping_rule, 200, b'{"status": "ok", "bid": 12.5}', JSON) == BuyerAnswer(
        accepted=True, price_cents=1250
    )
    assert not read_answer(ping_rule, 200, b'{"status": "no", "bid": 12.5}', JSON).accepted


def test_json_paths_walk_objects_and_list_indexes() -> None:
    nested = rule("json", {"path": "data.result.0.ok"}, reference="data.result.0.id", price="data.price")
    body = b'{"data": {"result": [{"ok": true, "id": 42}], "price": "7.05"}}'
    assert read_answer(nested, 200, body, JSON) == BuyerAnswer(accepted=True, price_cents=705, reference="42")
    assert not read_answer(nested, 200, b'{"data": {"result": []}}', JSON).accepted


@pytest.mark.parametrize(
    ("value", "equals", "accepted"),
    [
        ('"OK"', "ok", True),
        ("true", "true", True),
        ("true", True, True),
        ('"true"', True, True),
        ("false", True, False),
        ("1", "1", True),
        ('"1"', 1, True),
        ("1.0", 1, True),
        ("null", "null", False),
        ('"accepted "', "ACCEPTED", True),
        ('"rejected"', "accepted", False),
    ],
)
def test_equals_compares_scalars_loosely(value: str, equals: Any, accepted: bool) -> None:
    response_rule = rule("json", {"path": "status", "equals": equals})
    body = f'{{"status": {value}}}'.encode()
    assert read_answer(response_rule, 200, body, JSON).accepted is accepted


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("true", True),
        ('"yes"', True),
        ("1", True),
        ('"false"', False),
        ('"0"', False),
        ("0", False),
        ('""', False),
        ("null", False),
        ("false", False),
        ("[]", False),
    ],
)
def test_without_equals_the_value_must_be_true_ish(value: str, accepted: bool) -> None:
    response_rule = rule("json", {"path": "accepted"})
    assert read_answer(response_rule, 200, f'{{"accepted": {value}}}'.encode(), JSON).accepted is accepted


def test_a_path_differing_only_in_case_still_reads() -> None:
    response_rule = rule("json", {"path": "status", "equals": "ok"}, reference="leadid")
    assert read_answer(response_rule, 200, b'{"Status": "ok", "LeadId": "x1"}', JSON) == BuyerAnswer(
        accepted=True, reference="x1"
    )


def test_a_non_2xx_never_accepts_but_keeps_the_reason() -> None:
    response_rule = rule("json", {"path": "status", "equals": "ok"}, reason="error")
    body = b'{"status": "ok", "error": "duplicate lead"}'
    assert read_answer(response_rule, 409, body, JSON) == BuyerAnswer(accepted=False, reason="duplicate lead")
    assert read_answer(response_rule, 503, b"Service Unavailable", JSON) == BuyerAnswer(
        accepted=False, reason="HTTP 503"
    )


def test_a_body_that_is_not_json_is_an_unreadable_refusal() -> None:
    answer = read_answer(rule("json", {"path": "status"}), 200, b"<html>oops</html>", JSON)
    assert not answer.accepted
    assert answer.reason is not None and answer.reason.startswith("unreadable answer: ")


@pytest.mark.parametrize(
    ("price", "cents"),
    [
        ('"12.50"', 1250),
        ("12.5", 1250),
        ("3", 300),
        ('"0.99"', 99),
        ('"$4.10"', 410),
        ('"1.999"', 200),
        ('"1,250.00"', 125000),
        ('"abc"', None),
        ("-2", None),
        ("true", None),
        ("null", None),
    ],
)
def test_price_in_units_becomes_cents(price: str, cents: int | None) -> None:
    response_rule = rule("json", {"path": "ok"}, price="price")
    body = f'{{"ok": true, "price": {price}}}'.encode()
    assert read_answer(response_rule, 200, body, JSON).price_cents == cents


# --- xml ---------------------------------------------------------------------------------

XML_ANSWER = b"""<?xml version="1.0" encoding="UTF-8"?>
<response xmlns="urn:buyer:v2">
  <result>Accepted</result>
  <bid currency="USD" amount="18.40"/>
  <lead><id> B-981 </id></lead>
  <message>thanks</message>
</response>"""


def test_xml_rule_reads_element_text_attributes_and_string_results() -> None:
    response_rule = rule(
        "xml",
        {"path": "/response/result", "equals": "accepted"},
        price="//bid/@amount",
        reference="string(//lead/id)",
        reason="//message",
    )
    check_response_rule(response_rule, PREFIX)
    assert read_answer(response_rule, 200, XML_ANSWER, "text/xml") == BuyerAnswer(
        accepted=True, price_cents=1840, reference="B-981", reason="thanks"
    )


def test_xml_boolean_xpath_and_missing_nodes() -> None:
    yes = rule("xml", {"path": "//result = 'Accepted'"})
    assert read_answer(yes, 200, XML_ANSWER, "application/xml").accepted
    missing = rule("xml", {"path": "//nothing"})
    assert not read_answer(missing, 200, XML_ANSWER, "application/xml").accepted


def test_xml_with_a_doctype_is_not_read() -> None:
    hostile = b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r><ok>&x;</ok></r>'
    answer = read_answer(rule("xml", {"path": "//ok"}), 200, hostile, "application/xml")
    assert not answer.accepted
    assert answer.reason is not None and "DOCTYPE" in answer.reason


# --- text --------------------------------------------------------------------------------

CONTRACT_TEXT_RULE = rule(
    "text",
    {"regex": "^SUCCESS"},
    price="(?<=price=)[0-9.]+",
    reference="(?<=id=)\\w+",
)


def test_contract_text_rule_with_lookbehinds() -> None:
    check_response_rule(CONTRACT_TEXT_RULE, PREFIX)
    body = b"SUCCESS price=12.50 id=AB12cd"
    assert read_answer(CONTRACT_TEXT_RULE, 200, body, "text/plain") == BuyerAnswer(
        accepted=True, price_cents=1250, reference="AB12cd"
    )
    assert not read_answer(CONTRACT_TEXT_RULE, 200, b"FAILURE id=AB12cd", "text/plain").accepted


def test_text_answers_read_in_their_charset_and_past_a_byte_order_mark() -> None:
    assert read_answer(CONTRACT_TEXT_RULE, 200, b"\xef\xbb\xbfSUCCESS id=7", "text/plain").accepted
    utf16 = "SUCCESS price=1.05".encode("utf-16")
    answer = read_answer(CONTRACT_TEXT_RULE, 200, utf16, "text/plain; charset=utf-16")
    assert (answer.accepted, answer.price_cents) == (True, 105)


def test_pcre_named_groups_read_their_first_group() -> None:
    response_rule = rule(
        "text",
        {"regex": "status=(?<status>\\w+)", "equals": "accepted"},
        reason="reason=(?<why>[^&]+)",
        reference="(?'ref'[0-9]+)$",
    )
    check_response_rule(response_rule, PREFIX)
    body = b"status=ACCEPTED&reason=looks good&ref=9981"
    assert read_answer(response_rule, 200, body, "text/plain; charset=utf-8") == BuyerAnswer(
        accepted=True, reason="looks good", reference="9981"
    )
    assert not read_answer(response_rule, 200, b"status=rejected", "text/plain").accepted


@pytest.mark.parametrize(
    ("pcre", "python"),
    [
        ("(?<name>a)", "(?P<name>a)"),
        ("(?<=x)(?<!y)", "(?<=x)(?<!y)"),
        ("(?'n'a)\\k<n>", "(?P<n>a)(?P=n)"),
        ("\\(?<x>", "\\(?<x>"),
        ("[(?<x>]", "[(?<x>]"),
        ("[]?<](?<g>b)", "[]?<](?P<g>b)"),
        ("done\\z", "done\\Z"),
    ],
)
def test_pcre_spellings_become_python(pcre: str, python: str) -> None:
    assert python_regex(pcre) == python
    re.compile(python)


# --- save-time refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response_rule", "field", "code"),
    [
        (rule("text", {"regex": "("}), f"{PREFIX}.accepted.regex", "invalid_regex"),
        (rule("text", {"regex": "ok"}, price="[0-9"), f"{PREFIX}.price", "invalid_regex"),
        (rule("text", {"regex": "ok"}, reference="(?<=a+)b"), f"{PREFIX}.reference", "invalid_regex"),
        (rule("xml", {"path": "//a["}), f"{PREFIX}.accepted.path", "invalid_xpath"),
        (rule("xml", {"path": "//a"}, reason="//b/"), f"{PREFIX}.reason", "invalid_xpath"),
        (rule("xml", {"path": "//ns:a"}), f"{PREFIX}.accepted.path", "invalid_xpath"),
        (rule("xml", {"path": "nope(//a)"}), f"{PREFIX}.accepted.path", "invalid_xpath"),
        (rule("json", {"path": "a..b"}), f"{PREFIX}.accepted.path", "invalid_path"),
        (rule("json", {"path": ".status"}), f"{PREFIX}.accepted.path", "invalid_path"),
        (rule("json", {"path": "data[0].id"}), f"{PREFIX}.accepted.path", "invalid_path"),
        (rule("json", {"path": "ok"}, price="bid amount"), f"{PREFIX}.price", "invalid_path"),
        (rule("json", {"path": ""}), f"{PREFIX}.accepted.path", "invalid_rule"),
        (rule("json", {}), f"{PREFIX}.accepted", "invalid_rule"),
        (rule("json", {"path": "a", "regex": "a"}), f"{PREFIX}.accepted", "invalid_rule"),
        (rule("text", {"path": "status"}), f"{PREFIX}.accepted.path", "invalid_rule"),
        (rule("json", {"regex": "^ok"}), f"{PREFIX}.accepted.regex", "invalid_rule"),
        (rule("xml", {"regex": "^ok"}), f"{PREFIX}.accepted.regex", "invalid_rule"),
    ],
)
def test_unusable_rules_are_refused_naming_the_field(
    response_rule: ResponseRule, field: str, code: str
) -> None:
    assert refusal(response_rule) == (field, code)


def test_a_rule_that_was_never_checked_still_does_not_raise() -> None:
    answer = read_answer(rule("text", {"regex": "("}), 200, b"ok", "text/plain")
    assert not answer.accepted
    assert answer.reason is not None and answer.reason.startswith("invalid response rule")


def test_compiled_rules_are_shared_between_equal_rules() -> None:
    first = rule("json", {"path": "status", "equals": "ok"})
    second = ResponseRule(format="json", accepted=Accepted(path="status", equals=["ok"]))
    # An unhashable `equals` is no obstacle: the cache keys on the expressions only.
    assert read_answer(first, 200, b'{"status": "ok"}', JSON).accepted
    assert read_answer(second, 200, b'{"status": ["ok"]}', JSON).accepted


# --- never raises ------------------------------------------------------------------------

RULES = [
    LOAN_RULE,
    CONFIRMATION_RULE,
    CONTRACT_TEXT_RULE,
    rule("json", {"path": "a.0.b", "equals": 1}, price="p", reason="r.0", reference="x"),
    rule("xml", {"path": "/r/ok", "equals": "true"}, price="//p/@v", reason="//r", reference="count(//*)"),
    rule("xml", {"path": "//ok"}, price="string(//p)", reference="//@id"),
    rule("text", {"regex": "(?<s>ok|no)", "equals": "ok"}, price="[0-9.]+", reason="(.*)"),
]
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
        max_leaves=12,
    ).map(lambda value: msgspec.json.encode(value) if value == value else b"NaN"),
    st.builds(
        lambda ok, p, text: f"<r><ok>{ok}</ok><p v='{p}'>{p}</p>{text}</r>".encode(),
        st.sampled_from(["true", "1", "", "<x/>"]),
        st.sampled_from(["1.5", "x", "-3", "1e400"]),
        st.text(max_size=40),
    ),
)
content_types = st.sampled_from(
    [
        None,
        "",
        JSON,
        "text/xml; charset=latin-1",
        "text/plain; charset=bogus",
        "text/plain; charset=base64",
        "text/plain; charset=utf-16",
        "application/xml; charset=utf-32",
    ]
)


@given(
    st.sampled_from(RULES),
    st.integers(min_value=0, max_value=999),
    bodies,
    content_types,
)
def test_reading_any_answer_never_raises(
    response_rule: ResponseRule, status: int, body: bytes, content_type: str | None
) -> None:
    answer = read_answer(response_rule, status, body, content_type)
    assert isinstance(answer, BuyerAnswer)
    if not 200 <= status < 300:
        assert not answer.accepted
    assert answer.price_cents is None or answer.price_cents >= 0
