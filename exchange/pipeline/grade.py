"""Grade: an A-D class and a 0-100 score for a valid lead, with the reasons that made it.

Each factor gives one reason and its points; the score is their sum, rounded and held
to 0..100. Operators read this table to explain a grade:

| factor       | reason                   | points                                   |
|--------------|--------------------------|------------------------------------------|
| consent      | consent:trustedform      | +25 (the best evidence sent counts)      |
|              | consent:jornaya          | +25                                      |
|              | consent:text             | +12 (text with a timestamp)              |
|              | consent:none             | 0                                        |
| phone        | phone:mobile             | +20                                      |
|              | phone:landline           | +12                                      |
|              | phone:line_or_mobile     | +12 (every US/CA number: see below)      |
|              | phone:unknown            | +12 (toll-free, pager, shared cost…)     |
|              | phone:voip               | +2                                       |
|              | phone:none               | 0                                        |
| e-mail       | email:ok                 | +15                                      |
|              | email:none               | +5                                       |
|              | email:disposable         | -20                                      |
| ip address   | ip:private               | -10 (only listed when private)           |
| completeness | completeness:0.80        | +20 × share of optional fields sent      |
| source       | source:0.35              | 40 × (score - 0.5): -20 (bad) to +20     |
|              | source:unknown           | 0 (a new source is neither)              |

The source score (0..1) is the publisher's or sub_id's quality from returns and
dispositions. Grade by score: A from 70, B from 50, C from 30, D below. A US lead
with certified consent, a good e-mail and most optional fields reaches A from a new
source, although the North American numbering plan does not tell mobiles from landlines
(phonenumbers types every US and Canadian number FIXED_LINE_OR_MOBILE: `line_or_mobile`).

Each reason is a stable code (`signal:value`, what `grade_reasons` holds); `grade_advice`
turns one into a sentence saying what it earned and what would raise it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from exchange.pipeline.validate import LeadSignals
from exchange.types import Grade, Lead

# The table above, as data. Points per reason; factors pick one reason each.
POINTS: dict[str, int] = {
    "consent:trustedform": 25,
    "consent:jornaya": 25,
    "consent:text": 12,
    "consent:none": 0,
    "phone:mobile": 20,
    "phone:landline": 12,
    "phone:line_or_mobile": 12,
    "phone:unknown": 12,
    "phone:voip": 2,
    "phone:none": 0,
    "email:ok": 15,
    "email:none": 5,
    "email:disposable": -20,
    "ip:private": -10,
}
COMPLETENESS_POINTS = 20
# A source's score moves the total by up to this many points either way; a score of
# 0.5 (and an unknown source) moves it not at all.
SOURCE_POINTS = 20
THRESHOLDS: tuple[tuple[int, Grade], ...] = ((70, "A"), (50, "B"), (30, "C"), (0, "D"))


class GradeResult(msgspec.Struct, frozen=True, kw_only=True):
    grade: Grade
    score: int
    reasons: list[str]


def _consent_reason(signals: LeadSignals) -> str:
    if signals.has_trustedform:
        return "consent:trustedform"
    if signals.has_jornaya:
        return "consent:jornaya"
    return "consent:text" if signals.has_consent_text else "consent:none"


def _phone_reason(lead: Lead, signals: LeadSignals) -> str:
    if not lead.fields.get("phone"):
        return "phone:none"
    return f"phone:{signals.phone_type or 'unknown'}"


def _email_reason(lead: Lead, signals: LeadSignals) -> str:
    if not lead.fields.get("email"):
        return "email:none"
    return "email:disposable" if signals.is_disposable_email else "email:ok"


def grade_lead(lead: Lead, signals: LeadSignals, *, source_score: float | None = None) -> GradeResult:
    """Grade a valid lead from what validation found and its source's closed-loop score (0..1)."""
    reasons = [_consent_reason(signals), _phone_reason(lead, signals), _email_reason(lead, signals)]
    if signals.is_private_ip:
        reasons.append("ip:private")
    total: float = sum(POINTS[reason] for reason in reasons)

    completeness = min(max(signals.completeness, 0.0), 1.0)
    total += COMPLETENESS_POINTS * completeness
    reasons.append(f"completeness:{completeness:.2f}")

    if source_score is None or math.isnan(source_score):
        reasons.append("source:unknown")
    else:
        source = min(max(source_score, 0.0), 1.0)
        total += SOURCE_POINTS * 2 * (source - 0.5)
        reasons.append(f"source:{source:.2f}")

    score = min(max(round(total), 0), 100)
    grade = next(grade for floor, grade in THRESHOLDS if score >= floor)
    return GradeResult(grade=grade, score=score, reasons=reasons)


# What each fixed reason means to the one who sent the lead, beside its points.
_ADVICE: dict[str, str] = {
    "consent:trustedform": "certified consent (TrustedForm certificate), the best evidence",
    "consent:jornaya": "certified consent (Jornaya LeadiD), the best evidence",
    "consent:text": "consent text with a timestamp; a TrustedForm certificate or Jornaya LeadiD would add 13",
    "consent:none": (
        "no consent evidence; send consent text with a timestamp (+12), or a TrustedForm certificate "
        "or Jornaya LeadiD (+25)"
    ),
    "phone:mobile": "a mobile number",
    "phone:landline": "a landline; a mobile number would add 8",
    "phone:line_or_mobile": (
        "a valid US or Canadian number; the numbering plan does not tell mobiles from landlines, "
        "so no such number scores as a mobile"
    ),
    "phone:unknown": "a valid number of another kind (toll-free, shared cost, pager…); a mobile would add 8",
    "phone:voip": "a VoIP number; a mobile number would add 18",
    "phone:none": "no phone; a valid mobile number would add 20",
    "email:ok": "a valid e-mail address",
    "email:none": "no e-mail; a valid address would add 10",
    "email:disposable": "a disposable e-mail domain; a lasting address would add 35",
    "ip:private": "a private IP address; send the consumer's public IP address (+10)",
}


def grade_advice(reasons: Sequence[str], missing_fields: Sequence[str] | None = None) -> list[str]:
    """Each reason as `code: what it earned, and what would raise it`, in the same order.

    `missing_fields` are the vertical's optional fields the lead lacks (None: not known), named
    in the completeness advice."""
    return [f"{reason}: {_advise(reason, missing_fields)}" for reason in reasons]


def _points(points: float) -> str:
    return f"{round(points):+d} points"


def _advise(reason: str, missing_fields: Sequence[str] | None) -> str:
    try:
        return _advice_for(reason, missing_fields)
    except ValueError:  # a code this version does not write (an old lead's, say)
        return "no advice for this reason"


def _advice_for(reason: str, missing_fields: Sequence[str] | None) -> str:
    if reason in _ADVICE:
        return f"{_ADVICE[reason]} ({_points(POINTS[reason])})"
    signal, _, value = reason.partition(":")
    if signal == "completeness":
        earned = COMPLETENESS_POINTS * float(value)
        if float(value) >= 1.0 or (missing_fields is not None and not missing_fields):
            return f"every optional field sent ({_points(earned)})"
        gap = f"up to {COMPLETENESS_POINTS - round(earned)} more points"
        if missing_fields:
            return (
                f"{float(value):.0%} of the optional fields sent ({_points(earned)}); missing fields: "
                f"{', '.join(missing_fields)} (add them to raise completeness, {gap})"
            )
        return (
            f"{float(value):.0%} of the optional fields sent ({_points(earned)}); send more of them ({gap})"
        )
    if signal == "source" and value == "unknown":
        return "a new source: no returns or dispositions on record yet (+0 points)"
    if signal == "source":
        earned = SOURCE_POINTS * 2 * (float(value) - 0.5)
        return (
            f"this source's score from its returns and dispositions is {value} ({_points(earned)}, "
            f"{-SOURCE_POINTS:+d} to {SOURCE_POINTS:+d}); fewer returns and more conversions raise it"
        )
    return "no advice for this reason"
