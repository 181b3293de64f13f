"""Normalize: a publisher's names mapped to ours, strings tidied, values typed."""

from __future__ import annotations

import pytest

from exchange.pipeline.normalize import (
    Unfit,
    apply_mapping,
    clean_name,
    clean_text,
    enum_key,
    state_code,
    to_bool,
    to_date,
    to_int,
)


def test_mapping_renames_and_nests_dotted_targets() -> None:
    raw = {"FName": "Ada", "consent_text": "I agree", "consent_ts": "2026-11-20T10:00:00Z"}
    mapping = {
        "FName": "first_name",
        "consent_text": "consent.text",
        "consent_ts": "consent.timestamp",
    }

    mapped = apply_mapping(raw, mapping)

    assert mapped == {
        "first_name": "Ada",
        "consent": {"text": "I agree", "timestamp": "2026-11-20T10:00:00Z"},
    }


def test_unmapped_names_pass_through_and_flat_dotted_names_nest() -> None:
    raw = {"zip": "94107", "consent.text": "I agree", "utm_source": "google"}

    assert apply_mapping(raw, {}) == {
        "zip": "94107",
        "consent": {"text": "I agree"},
        "utm_source": "google",
    }


def test_mapping_merges_into_a_sent_consent_object_without_changing_the_input() -> None:
    consent = {"text": "I agree"}
    raw = {"consent": consent, "tf": "https://cert.trustedform.com/" + "a" * 40}

    mapped = apply_mapping(raw, {"tf": "consent.trustedform_cert_url"})

    assert mapped["consent"] == {"text": "I agree", "trustedform_cert_url": raw["tf"]}
    assert consent == {"text": "I agree"}


def test_mapping_reaches_one_level_into_a_nested_value() -> None:
    raw = {"tcpa": {"cert": "c", "other": 1}}

    mapped = apply_mapping(raw, {"tcpa.cert": "consent.trustedform_cert_url"})

    assert mapped == {"consent": {"trustedform_cert_url": "c"}, "tcpa": {"other": 1}}


def test_text_is_stripped_and_inner_whitespace_collapsed() -> None:
    assert clean_text("  1  Main\t St \n") == "1 Main St"


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("ada", "Ada"), ("LOVELACE", "Lovelace"), ("o'brien", "O'Brien"), ("McDonald", "McDonald")],
)
def test_names_are_title_cased_only_when_sent_in_one_case(sent: str, kept: str) -> None:
    assert clean_name(f"  {sent} ") == kept


def test_enum_key_treats_spaces_and_hyphens_as_underscores() -> None:
    assert enum_key(" Trade-In ") == enum_key("trade in") == "trade_in"


@pytest.mark.parametrize(("sent", "code"), [("ca", "CA"), ("New  york", "NY"), ("puerto rico", "PR")])
def test_state_names_and_codes_become_the_two_letter_code(sent: str, code: str) -> None:
    assert state_code(sent) == code


def test_unknown_state_has_no_code() -> None:
    assert state_code("ZZ") is None
    assert state_code("Atlantis") is None


@pytest.mark.parametrize(("sent", "value"), [(7, 7), ("-3", -3), ("+12", 12), (" 2019 ", 2019), (4.0, 4)])
def test_whole_numbers_are_accepted_from_json_and_digit_strings(sent: object, value: int) -> None:
    assert to_int(sent) == value


@pytest.mark.parametrize("sent", [4.5, True, "12a", "1e3", "", "١٢"])
def test_other_numbers_are_refused_as_invalid_type(sent: object) -> None:
    with pytest.raises(Unfit) as refused:
        to_int(sent)
    assert refused.value.code == "invalid_type"


@pytest.mark.parametrize(("sent", "value"), [("YES", True), ("no", False), (1, True), (False, False)])
def test_booleans_accept_words_digits_and_json(sent: object, value: bool) -> None:
    assert to_bool(sent) is value


@pytest.mark.parametrize(
    "sent", ["1985-04-02", "04/02/1985", "4/2/1985", "1985-04-02T08:30:00Z", "1985-04-02 08:30"]
)
def test_dates_in_accepted_shapes_become_iso(sent: str) -> None:
    assert to_date(sent) == "1985-04-02"
