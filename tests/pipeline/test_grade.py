"""Grade: consent, phone, e-mail, completeness, IP and source make an A-D grade with reasons."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from exchange.pipeline import grade as grade_module
from exchange.pipeline.grade import GradeResult, grade_lead
from exchange.pipeline.validate import LeadSignals
from exchange.types import Lead

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
    phone_type=st.sampled_from([None, "mobile", "landline", "voip", "unknown"]),
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
