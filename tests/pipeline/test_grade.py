"""Grade: consent, phone, e-mail, completeness, IP and source make an A-D grade with reasons."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from exchange.pipeline import grade as grade_module
from exchange.pipeline.grade import GradeResult, grade_advice, grade_lead
from exchange.pipeline.validate import LeadSignals, validate_lead
from exchange.types import Lead
from exchange.verticals import BUILTIN_VERTICALS

CONTACT = {"phone": "+14152532671", "email": "ada@gmail.com"}
ORDER = "ABCD"


def lead(**fields: str) -> Lead:
    return Lead(vertical="auto_insurance", fields={**CONTACT, **fields})


BEST = LeadSignals(phone_type="mobile", email_domain="gmail.com", has_trustedform=True, completeness=1.0)
POOR = LeadSignals(
    phone_type="voip", email_domain="mailinator.com", is_disposable_email=True, completeness=1.0
)


def test_trustedform_mobile_complete_lead_grades_above_disposable_voip_lead() -> None:
    best, poor = grade_lead(lead(), BEST), grade_lead(lead(), POOR)

    assert best.score > poor.score
    assert ORDER.index(best.grade) < ORDER.index(poor.grade)
    assert best.grade == "A"


def test_low_source_score_lowers_the_grade() -> None:
    unknown = grade_lead(lead(), BEST)
    low = grade_lead(lead(), BEST, source_score=0.05)

    assert low.score < unknown.score
    assert ORDER.index(low.grade) > ORDER.index(unknown.grade)


def test_reasons_list_what_happened() -> None:
    signals = LeadSignals(
        phone_type="voip",
        is_disposable_email=True,
        has_jornaya=True,
        is_private_ip=True,
        completeness=0.8,
    )

    result = grade_lead(lead(), signals, source_score=0.35)

    assert result.reasons == [
        "consent:jornaya",
        "phone:voip",
        "email:disposable",
        "ip:private",
        "completeness:0.80",
        "source:0.35",
    ]


def test_best_consent_evidence_counts_once() -> None:
    both = LeadSignals(has_trustedform=True, has_jornaya=True, has_consent_text=True)
    text_only = LeadSignals(has_consent_text=True)

    assert grade_lead(lead(), both).reasons[0] == "consent:trustedform"
    assert grade_lead(lead(), both).score > grade_lead(lead(), text_only).score
    assert grade_lead(lead(), text_only).score > grade_lead(lead(), LeadSignals()).score


def test_missing_contact_is_named_in_the_reasons() -> None:
    bare = Lead(vertical="auto_sales", fields={"first_name": "Grace"})

    assert grade_lead(bare, LeadSignals()).reasons[1:3] == ["phone:none", "email:none"]


def test_unknown_source_is_neutral() -> None:
    result = grade_lead(lead(), BEST)

    assert "source:unknown" in result.reasons
    assert grade_lead(lead(), BEST, source_score=0.0).score < result.score
    assert grade_lead(lead(), BEST, source_score=1.0).score > result.score


def test_docstring_table_shows_every_rule_with_its_points() -> None:
    doc = grade_module.__doc__ or ""
    for reason, points in grade_module.POINTS.items():
        row = re.search(rf"\| {re.escape(reason)}\s+\| ([+-]?\d+)", doc)
        assert row is not None, reason
        assert int(row.group(1)) == points, reason


_SIGNALS = st.builds(
    LeadSignals,
    phone_type=st.sampled_from([None, "mobile", "landline", "line_or_mobile", "voip", "unknown"]),
    is_disposable_email=st.booleans(),
    has_trustedform=st.booleans(),
    has_jornaya=st.booleans(),
    has_consent_text=st.booleans(),
    is_private_ip=st.booleans(),
    completeness=st.floats(0, 1),
)
_SCORE = st.floats(0, 1)


@given(signals=_SIGNALS, a=_SCORE, b=_SCORE)
def test_grade_is_monotonic_in_source_score(signals: LeadSignals, a: float, b: float) -> None:
    low, high = sorted((a, b))

    worse: GradeResult = grade_lead(lead(), signals, source_score=low)
    better: GradeResult = grade_lead(lead(), signals, source_score=high)

    assert worse.score <= better.score
    assert ORDER.index(worse.grade) >= ORDER.index(better.grade)
    assert 0 <= worse.score <= better.score <= 100


AUTO = next(v for v in BUILTIN_VERTICALS if v.key == "auto_insurance")
US_LEAD = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@gmail.com",
    "zip": "94105",
    "date_of_birth": "1985-04-12",
    "currently_insured": True,
    "vehicle_year": 2019,
    "vehicle_make": "Toyota",
    "vehicle_model": "Camry",
}


def _phone_reason(phone: str) -> str:
    checked = validate_lead({**US_LEAD, "phone": phone}, AUTO, now=datetime(2026, 11, 26, tzinfo=UTC))
    assert checked.lead is not None, checked.errors
    return grade_lead(checked.lead, checked.signals).reasons[1]


def test_a_us_number_is_line_or_mobile_as_its_numbering_plan_says_not_unknown() -> None:
    # The numbering plan types every US and Canadian number "fixed line or mobile".
    assert _phone_reason("(415) 253-2671") == "phone:line_or_mobile"
    assert _phone_reason("+1 604 555 0123") == "phone:line_or_mobile"
    assert _phone_reason("+1 800 555 1234") == "phone:unknown"  # toll-free: a kind of its own
    assert _phone_reason("+44 7911 123456") == "phone:mobile"


def test_advice_names_the_missing_fields_and_what_adding_them_would_earn() -> None:
    signals = LeadSignals(phone_type="voip", has_consent_text=True, completeness=0.25)

    result = grade_lead(lead(), signals)
    advice = grade_advice(result.reasons, ["gender", "homeowner", "dui"])

    assert advice[0] == (
        "consent:text: consent text with a timestamp; a TrustedForm certificate or Jornaya LeadiD "
        "would add 13 (+12 points)"
    )
    assert advice[1] == "phone:voip: a VoIP number; a mobile number would add 18 (+2 points)"
    assert advice[3] == (
        "completeness:0.25: 25% of the optional fields sent (+5 points); missing fields: gender, "
        "homeowner, dui (add them to raise completeness, up to 15 more points)"
    )
    assert advice[4].startswith("source:unknown: a new source")
    assert grade_advice(["completeness:1.00"], []) == [
        "completeness:1.00: every optional field sent (+20 points)"
    ]
    low = grade_advice(["source:0.10"])[0]
    assert "(-16 points" in low and "fewer returns" in low


def test_advice_for_a_code_it_does_not_know_still_names_the_code() -> None:
    assert grade_advice(["completeness:many", "weather:sunny"]) == [
        "completeness:many: no advice for this reason",
        "weather:sunny: no advice for this reason",
    ]


@given(signals=_SIGNALS, score=st.one_of(st.none(), _SCORE))
def test_every_reason_gets_advice_led_by_its_code(signals: LeadSignals, score: float | None) -> None:
    reasons = grade_lead(lead(), signals, source_score=score).reasons

    advice = grade_advice(reasons, ["gender"])

    assert [a.split(": ", 1)[0] for a in advice] == reasons
    assert not any(a.endswith("no advice for this reason") for a in advice)
