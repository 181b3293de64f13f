"""Validate: every rule's refusal, all errors at once, typed fields, signals, never a crash."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from exchange.pipeline.validate import Checked, _nanp_number, validate_lead
from exchange.types import CANONICAL_FIELDS, CONSENT_FIELDS
from exchange.verticals import BUILTIN_VERTICALS, Distribution, Vertical

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
VERTICALS = {vertical.key: vertical for vertical in BUILTIN_VERTICALS}
CERT = "https://cert.trustedform.com/" + "0123456789abcdef" * 2 + "01234567"
LEADID = "0b6a9c1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"

_CONTACT: dict[str, Any] = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada.lovelace@gmail.com",
    "phone": "(415) 253-2671",
    "address": "500 Howard St",
    "city": "San Francisco",
    "state": "CA",
    "zip": "94107",
    "ip_address": "73.92.14.201",
    "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
    "landing_page_url": "https://quotes.example.com/start?utm_source=google",
    "sub_id": "google-cpc-7",
    "external_id": "pub-000123",
    "consent": {
        "text": "By clicking Get Quotes I agree to be contacted by up to 5 partners.",
        "timestamp": "2026-11-20T11:58:03Z",
        "trustedform_cert_url": CERT,
        "jornaya_leadid": LEADID,
    },
}
_OWN_FIELDS: dict[str, dict[str, Any]] = {
    "auto_insurance": {
        "date_of_birth": "04/02/1985",
        "gender": "female",
        "marital_status": "Married",
        "homeowner": "yes",
        "currently_insured": True,
        "current_carrier": "Progressive",
        "insured_months": "36",
        "vehicle_year": 2019,
        "vehicle_make": "Toyota",
        "vehicle_model": "Camry",
        "vehicle_count": "1",
        "driver_count": 2,
        "accidents_last_3_years": "0",
        "dui": "false",
        "credit_rating": "good",
        "coverage_type": "standard",
    },
    "mortgage": {
        "loan_purpose": "cash-out refinance",
        "property_type": "single family",
        "occupancy": "primary",
        "property_value_cents": 85_000_000,
        "loan_amount_cents": "42000000",
        "credit_rating": "Excellent",
        "employment_status": "employed",
        "va_eligible": "no",
        "bankruptcy": False,
    },
    "solar": {
        "homeowner": "true",
        "monthly_electric_bill_cents": "18500",
        "electric_utility": "PG&E",
        "roof_shade": "partial",
        "roof_age_years": 8,
        "property_type": "single_family",
        "credit_rating": "good",
    },
    "home_services": {
        "service": "Roofing",
        "project_timeframe": "within 1 month",
        "homeowner": "1",
        "property_type": "townhouse",
        "project_description": "Replace asphalt shingles on a 1,800 sq ft roof after hail damage.",
    },
    "auto_sales": {
        "request_date": "2026-11-19T16:20:00-05:00",
        "interest": "buy",
        "vehicle_status": "new",
        "vehicle_year": "2027",
        "vehicle_make": "Honda",
        "vehicle_model": "CR-V",
        "vehicle_trim": "EX-L",
        "vehicle_vin": "7FARS4H79SE000123",
        "vehicle_price_cents": 3_899_500,
        "trade_in_year": 2015,
        "trade_in_make": "Ford",
        "trade_in_model": "Focus",
        "trade_in_mileage": "98000",
        "timeframe": "within 2 weeks",
        "comments": "Prefer a call after 5pm.",
        "vendor_name": "Bay Honda",
        "provider_name": "CarLeads Inc",
    },
}


def complete_lead(vertical_key: str, **changes: Any) -> dict[str, Any]:
    """A realistic lead with every field of the vertical; `changes` replace (None drops)."""
    raw = {**_CONTACT, **_OWN_FIELDS[vertical_key], **changes}
    raw["consent"] = dict(raw["consent"]) if isinstance(raw["consent"], dict) else raw["consent"]
    return {name: value for name, value in raw.items() if value is not None}


def check(raw: dict[str, Any], vertical: str | Vertical = "auto_insurance") -> Checked:
    return validate_lead(raw, VERTICALS[vertical] if isinstance(vertical, str) else vertical, now=NOW)


def codes(checked: Checked) -> dict[str, str]:
    return {error.field: error.code for error in checked.errors}


def only_error(checked: Checked) -> tuple[str, str, str]:
    assert checked.lead is None
    assert len(checked.errors) == 1, checked.errors
    error = checked.errors[0]
    return error.field, error.code, error.message


# Accepted leads


@pytest.mark.parametrize("vertical", sorted(VERTICALS))
def test_every_built_in_vertical_accepts_a_realistic_complete_lead(vertical: str) -> None:
    checked = check(complete_lead(vertical), vertical)

    assert checked.errors == []
    assert checked.lead is not None
    assert checked.lead.vertical == vertical
    assert checked.signals.completeness == 1.0
    assert checked.lead.fields["phone"] == "+14152532671"


def test_fields_are_normalised_and_typed() -> None:
    raw = complete_lead(
        "auto_insurance",
        first_name="  ada ",
        last_name="LOVELACE",
        email="Ada.Lovelace@GMAIL.com",
        zip="94107-1234",
        state="california",
    )

    fields = check(raw).lead.fields  # type: ignore[union-attr]

    assert fields["first_name"] == "Ada"
    assert fields["last_name"] == "Lovelace"
    assert fields["email"] == "Ada.Lovelace@gmail.com"
    assert fields["zip"] == "94107"
    assert fields["state"] == "CA"
    assert fields["date_of_birth"] == "1985-04-02"
    assert fields["homeowner"] is True and fields["dui"] is False
    assert fields["insured_months"] == 36
    assert fields["marital_status"] == "married"


def test_consent_is_kept_with_an_aware_utc_timestamp_and_upper_case_leadid() -> None:
    raw = complete_lead("auto_insurance")
    raw["consent"]["timestamp"] = "2026-11-20T06:58:03-05:00"

    consent = check(raw).lead.consent  # type: ignore[union-attr]

    assert consent is not None
    assert consent.timestamp == datetime(2026, 11, 20, 11, 58, 3, tzinfo=UTC)
    assert consent.jornaya_leadid == LEADID.upper()
    assert consent.trustedform_cert_url == CERT


def test_naive_consent_timestamp_is_read_as_utc() -> None:
    raw = complete_lead("auto_insurance")
    raw["consent"]["timestamp"] = "2026-11-20T11:58:03"

    consent = check(raw).lead.consent  # type: ignore[union-attr]

    assert consent is not None and consent.timestamp == datetime(2026, 11, 20, 11, 58, 3, tzinfo=UTC)


@pytest.mark.parametrize(
    ("vertical", "field", "sent", "canonical"),
    [
        ("auto_sales", "interest", "Trade In", "trade-in"),
        ("auto_sales", "interest", "TEST_DRIVE", "test-drive"),
        ("auto_insurance", "gender", "Non-Binary", "non_binary"),
        ("mortgage", "loan_purpose", "Cash Out Refinance", "cash_out_refinance"),
        ("home_services", "project_timeframe", "1-3 months", "1_3_months"),
    ],
)
def test_enum_values_are_stored_in_their_canonical_spelling(
    vertical: str, field: str, sent: str, canonical: str
) -> None:
    checked = check(complete_lead(vertical, **{field: sent}), vertical)

    assert checked.lead is not None and checked.lead.fields[field] == canonical


def test_state_is_inferred_from_the_zip_when_absent() -> None:
    checked = check(complete_lead("auto_insurance", state=None, zip="10001"))

    assert checked.lead is not None and checked.lead.fields["state"] == "NY"
    assert checked.signals.state_from_zip is True


def test_a_vertical_requiring_state_is_satisfied_by_the_zip() -> None:
    base = VERTICALS["auto_sales"]
    fields = [msgspec.structs.replace(f, required=f.name == "state" or f.required) for f in base.fields]
    vertical = msgspec.structs.replace(base, key="auto_sales_by_state", fields=fields)

    assert check(complete_lead("auto_sales", state=None), vertical).errors == []
    missing = check(complete_lead("auto_sales", state=None, zip=None), vertical)
    assert codes(missing) == {"state": "required"}


def test_unknown_fields_are_kept_in_extra_untouched() -> None:
    extra = {"utm_source": " Google ", "click": {"id": [1, 2]}, "Score": 7}
    raw = complete_lead("solar", **extra)
    raw["consent"]["page"] = "/quote"

    lead = check(raw, "solar").lead

    assert lead is not None
    assert lead.extra == {**extra, "consent": {"page": "/quote"}}
    assert "utm_source" not in lead.fields


def test_auto_sales_takes_a_lead_with_a_name_and_only_an_email() -> None:
    checked = check({"first_name": "Grace", "email": "grace@example.com"}, "auto_sales")

    assert checked.errors == []
    assert checked.signals.completeness == pytest.approx(1 / 24)


def test_phone_type_is_recorded() -> None:
    examples = {
        "mobile": phonenumbers.PhoneNumberType.MOBILE,
        "landline": phonenumbers.PhoneNumberType.FIXED_LINE,
        "voip": phonenumbers.PhoneNumberType.VOIP,
    }
    for phone_type, kind in examples.items():
        number = phonenumbers.example_number_for_type("GB", kind)
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert check(complete_lead("auto_insurance", phone=e164)).signals.phone_type == phone_type
    # NANP numbers do not tell mobile from fixed line: the plan types them so, and so do we.
    assert check(complete_lead("auto_insurance")).signals.phone_type == "line_or_mobile"


@pytest.mark.parametrize(
    "phone",
    [
        "+14152532671",
        "+18002345678",
        "+447400123456",
        "+445612345678",
        "+12015550123",
        "+11234567890",
        "+14155",
        "+80012345678",
        "+441234",
        "+19005550000",
        "+16045551234",
    ],
)
def test_number_type_is_unknown_exactly_when_the_number_is_invalid(phone: str) -> None:
    number = phonenumbers.parse(phone)
    is_unknown = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.UNKNOWN

    assert is_unknown is not phonenumbers.is_valid_number(number)


def test_disposable_email_is_recorded_with_its_domain() -> None:
    checked = check(complete_lead("auto_insurance", email="ada@MAILINATOR.com"))

    assert checked.lead is not None
    assert checked.signals.is_disposable_email is True
    assert checked.signals.email_domain == "mailinator.com"
    assert check(complete_lead("auto_insurance", email="a@x.mailinator.com")).signals.is_disposable_email
    assert not check(complete_lead("auto_insurance")).signals.is_disposable_email


def test_private_ip_is_allowed_but_recorded() -> None:
    for address in ("10.1.2.3", "127.0.0.1", "169.254.1.1", "::1"):
        checked = check(complete_lead("auto_insurance", ip_address=address))
        assert checked.lead is not None and checked.signals.is_private_ip, address
    assert not check(complete_lead("auto_insurance")).signals.is_private_ip


def test_consent_signals_follow_the_evidence_sent() -> None:
    raw = complete_lead("auto_insurance")
    raw["consent"] = {"text": "I agree", "timestamp": "2026-11-20T11:00:00Z"}

    signals = check(raw).signals

    assert (signals.has_consent_text, signals.has_trustedform, signals.has_jornaya) == (
        True,
        False,
        False,
    )


# Refusals, one per code


def test_all_problems_are_reported_at_once() -> None:
    raw = complete_lead(
        "auto_insurance",
        first_name=None,
        phone="12",
        email="not-an-email",
        zip="00000",
        vehicle_year="soon",
        gender="robot",
        ip_address="999.1.1.1",
    )

    assert codes(check(raw)) == {
        "first_name": "required",
        "phone": "invalid_phone",
        "email": "invalid_email",
        "zip": "invalid_zip",
        "vehicle_year": "invalid_type",
        "gender": "invalid_value",
        "ip_address": "invalid_ip",
    }


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_missing_or_blank_required_field_is_refused(blank: str | None) -> None:
    raw = complete_lead("auto_insurance")
    raw["vehicle_make"] = blank

    assert only_error(check(raw)) == ("vehicle_make", "required", "is required")


def test_lead_with_neither_phone_nor_email_is_refused_on_phone() -> None:
    checked = check({"first_name": "Grace", "zip": "10001"}, "auto_sales")

    assert only_error(checked) == ("phone", "required", "phone or email is required")


def test_consent_is_required_where_the_vertical_says_so() -> None:
    strict = msgspec.structs.replace(VERTICALS["solar"], distribution=Distribution(require_consent=True))
    text_only = {"text": "I agree"}

    assert check(complete_lead("solar", consent=None), strict).errors[0].field == "consent"
    assert codes(check(complete_lead("solar", consent=text_only), strict)) == {"consent": "required"}
    for evidence in (
        {"trustedform_cert_url": CERT},
        {"jornaya_leadid": LEADID},
        {"text": "I agree", "timestamp": "2026-11-20T11:00:00Z"},
    ):
        assert check(complete_lead("solar", consent=evidence), strict).errors == [], evidence
    assert check(complete_lead("solar", consent=None), "solar").errors == []


@pytest.mark.parametrize(
    ("field", "sent"),
    [
        ("vehicle_year", 2019.5),
        ("vehicle_year", "2019.0"),
        ("vehicle_year", True),
        ("driver_count", "two"),
        ("homeowner", "maybe"),
        ("homeowner", 2),
        ("date_of_birth", "yesterday"),
        ("date_of_birth", "1985-02-30"),
        ("date_of_birth", 19850402),
        ("vehicle_make", ["Toyota"]),
        ("vehicle_make", True),
        ("city", {"name": "San Francisco"}),
        ("gender", {"value": "female"}),
    ],
)
def test_value_of_the_wrong_type_is_refused(field: str, sent: object) -> None:
    field_name, code, _ = only_error(check(complete_lead("auto_insurance", **{field: sent})))

    assert (field_name, code) == (field, "invalid_type")


def test_consent_that_is_not_an_object_is_refused() -> None:
    assert codes(check(complete_lead("auto_insurance", consent="yes"))) == {"consent": "invalid_type"}


@pytest.mark.parametrize(
    ("vertical", "field", "sent", "says"),
    [
        ("auto_insurance", "gender", "robot", "male, female, non_binary"),
        ("mortgage", "loan_amount_cents", "-100", "negative"),
        ("auto_insurance", "vehicle_year", 1899, "1900 to 2028"),
        ("auto_insurance", "vehicle_year", "2029", "1900 to 2028"),
        ("auto_sales", "trade_in_year", 1850, "1900 to 2028"),
        ("auto_insurance", "date_of_birth", "2011-01-01", "age"),
        ("auto_insurance", "date_of_birth", "1900-01-01", "age"),
        ("auto_insurance", "vehicle_model", "x" * 256, "255"),
        ("auto_sales", "comments", "x" * 2001, "2000"),
    ],
)
def test_value_outside_its_rule_is_refused_saying_why(
    vertical: str, field: str, sent: object, says: str
) -> None:
    field_name, code, message = only_error(check(complete_lead(vertical, **{field: sent}), vertical))

    assert (field_name, code) == (field, "invalid_value")
    assert says in message


def test_long_text_fields_take_up_to_2000_characters() -> None:
    assert check(complete_lead("auto_sales", comments="x" * 2000), "auto_sales").errors == []


@pytest.mark.parametrize("phone", ["555-1234", "(123) 456-7890", "call me", "+1 415 253 26711"])
def test_phone_that_is_not_a_valid_number_is_refused(phone: str) -> None:
    assert only_error(check(complete_lead("auto_insurance", phone=phone)))[:2] == (
        "phone",
        "invalid_phone",
    )


@pytest.mark.parametrize("email", ["ada@", "ada.gmail.com", "ada@localhost", "Ada <ada@gmail.com>"])
def test_email_that_is_not_an_address_is_refused(email: str) -> None:
    assert only_error(check(complete_lead("auto_insurance", email=email)))[:2] == (
        "email",
        "invalid_email",
    )


@pytest.mark.parametrize("zip_code", ["00000", "9410", "941071", "abcde", "94107-12"])
def test_zip_that_is_not_a_us_zip_code_is_refused(zip_code: str) -> None:
    assert only_error(check(complete_lead("auto_insurance", zip=zip_code)))[:2] == (
        "zip",
        "invalid_zip",
    )


def test_zip_sent_as_a_json_number_gets_its_leading_zero_back() -> None:
    checked = check(complete_lead("auto_insurance", zip=2134, state="MA"))

    assert checked.lead is not None and checked.lead.fields["zip"] == "02134"


@pytest.mark.parametrize("state", ["ZZ", "Californ", "C"])
def test_state_that_is_not_a_us_state_is_refused(state: str) -> None:
    assert only_error(check(complete_lead("auto_insurance", state=state)))[:2] == (
        "state",
        "invalid_state",
    )


def test_zip_in_another_state_is_refused_naming_both() -> None:
    field, code, message = only_error(check(complete_lead("auto_insurance", state="NY")))

    assert (field, code) == ("zip", "zip_state_mismatch")
    assert "CA" in message and "NY" in message and "94107" in message


@pytest.mark.parametrize("address", ["999.1.1.1", "localhost", "1.2.3", "2001:db8::g"])
def test_ip_that_is_not_an_address_is_refused(address: str) -> None:
    assert only_error(check(complete_lead("auto_insurance", ip_address=address)))[:2] == (
        "ip_address",
        "invalid_ip",
    )


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/x",
        "https://",
        "quotes.example.com/start",
        "javascript:alert(1)",
        "http://[::1",
    ],
)
def test_landing_page_that_is_not_an_http_url_is_refused(url: str) -> None:
    assert only_error(check(complete_lead("auto_insurance", landing_page_url=url)))[:2] == (
        "landing_page_url",
        "invalid_url",
    )


def _with_consent(**changes: Any) -> dict[str, Any]:
    raw = complete_lead("auto_insurance")
    raw["consent"].update(changes)
    return raw


@pytest.mark.parametrize("timestamp", ["yesterday", "2026-11-20", "20/11/2026 10:00", 1763632800])
def test_consent_timestamp_that_is_not_iso_8601_is_refused(timestamp: object) -> None:
    assert only_error(check(_with_consent(timestamp=timestamp)))[:2] == (
        "consent.timestamp",
        "invalid_timestamp",
    )


def test_consent_timestamp_beyond_clock_skew_is_refused_as_future() -> None:
    ahead = (NOW + timedelta(minutes=6)).isoformat()
    within_skew = (NOW + timedelta(minutes=4)).isoformat()

    assert only_error(check(_with_consent(timestamp=ahead)))[:2] == (
        "consent.timestamp",
        "future_timestamp",
    )
    assert check(_with_consent(timestamp=within_skew)).errors == []


@pytest.mark.parametrize(
    "url",
    [
        "http://cert.trustedform.com/" + "a" * 40,
        "https://cert.trustedform.com/" + "a" * 39,
        "https://cert.trustedform.com/" + "g" * 40,
        "https://cert.trustedform.evil.com/" + "a" * 40,
        "https://evil.com/cert.trustedform.com/" + "a" * 40,
        "https://cert.trustedform.com/" + "a" * 40 + "/x",
    ],
)
def test_trustedform_cert_that_is_not_a_cert_url_is_refused(url: str) -> None:
    assert only_error(check(_with_consent(trustedform_cert_url=url)))[:2] == (
        "consent.trustedform_cert_url",
        "invalid_trustedform_cert",
    )


@pytest.mark.parametrize("token", ["not-a-token", LEADID.replace("-", ""), LEADID + "0", "g" * 36])
def test_jornaya_leadid_that_is_not_uuid_shaped_is_refused(token: str) -> None:
    assert only_error(check(_with_consent(jornaya_leadid=token)))[:2] == (
        "consent.jornaya_leadid",
        "invalid_jornaya_leadid",
    )


# Properties

_AREA_CODES = ["201", "212", "305", "312", "415", "503", "617", "702", "808", "919"]


@given(
    area=st.sampled_from(_AREA_CODES),
    exchange=st.integers(200, 999),
    line=st.integers(0, 9999),
)
def test_a_us_number_in_any_usual_format_normalises_to_one_e164(area: str, exchange: int, line: int) -> None:
    digits = f"{area}{exchange:03d}{line:04d}"
    assume(phonenumbers.is_valid_number(phonenumbers.parse(digits, "US")))
    a, b, c = area, f"{exchange:03d}", f"{line:04d}"
    shapes = [
        digits,
        f"({a}) {b}-{c}",
        f"{a}-{b}-{c}",
        f"{a}.{b}.{c}",
        f"+1 {a} {b} {c}",
        f"1-{a}-{b}-{c}",
        f"+1{digits}",
        f" {a} {b} {c} ",
        f"+1 ({a}) {b}-{c}",
        int(digits),
    ]

    stored = {
        check(complete_lead("auto_insurance", phone=shape)).lead.fields["phone"]  # type: ignore[union-attr]
        for shape in shapes
    }

    assert stored == {f"+1{digits}"}


@st.composite
def _dialled(draw: st.DrawFn) -> str:
    """Ten or eleven digits, maybe after a plus, with formatting characters anywhere."""
    digits = draw(st.sampled_from(["", "+", "1", "+1", "+4"])) + draw(
        st.text(alphabet="0123456789", min_size=9, max_size=11)
    )
    marks = draw(
        st.lists(
            st.sampled_from(["", "", " ", "-", ".", "(", ")"]),
            min_size=len(digits),
            max_size=len(digits),
        )
    )
    return "".join(mark + digit for mark, digit in zip(marks, digits, strict=True))


@given(_dialled())
def test_the_us_number_shortcut_agrees_with_phonenumbers_parse(text: str) -> None:
    number = _nanp_number(text)

    if number is not None:
        assert number == phonenumbers.parse(text, "US")


_NAMES = [*CANONICAL_FIELDS, *{f.name for v in BUILTIN_VERTICALS for f in v.fields}, "unknown"]
_SCALARS = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.integers(),
    st.sampled_from(
        [
            "",
            " ",
            "1",
            "yes",
            "2019",
            "94107",
            "CA",
            "(415) 253-2671",
            "a@b.co",
            "04/02/1985",
            "2026-11-20T10:00:00Z",
            "0001-01-01T00:00:00+01:00",
            CERT,
            LEADID,
            "http://x.y",
        ]
    ),
)


@given(
    vertical=st.sampled_from(BUILTIN_VERTICALS),
    raw=st.dictionaries(st.one_of(st.sampled_from(_NAMES), st.text(max_size=8)), _SCALARS),
    consent=st.one_of(_SCALARS, st.dictionaries(st.sampled_from([*CONSENT_FIELDS, "x"]), _SCALARS)),
)
def test_validate_never_raises_on_arbitrary_input(
    vertical: Vertical, raw: dict[str, Any], consent: object
) -> None:
    checked = validate_lead({**raw, "consent": consent}, vertical, now=NOW)

    assert (checked.lead is None) == bool(checked.errors)
    for error in checked.errors:
        assert error.code and error.message


def test_consent_text_longer_than_2000_characters_is_refused() -> None:
    assert only_error(check(_with_consent(text="I agree. " * 223)))[:2] == (
        "consent.text",
        "invalid_value",
    )
