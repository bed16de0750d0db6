"""Numbers as people type and read them, in Indonesian and English (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import translation
from django.utils.translation import gettext
from hypothesis import given
from hypothesis import strategies as st

from rantai.workload.numbers import decimal_marks, format_decimal, parse_decimal


def message(text: str, language: str) -> str:
    """The refusal `parse_decimal` gives for `text`."""
    with pytest.raises(ValueError) as refused:
        parse_decimal(text, language)
    return str(refused.value)


def translated(msgid: str, language: str, **values: str) -> str:
    with translation.override(language):
        text = gettext(msgid)
    return text % values if values else text


# -- reading ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.250", Decimal("1250")),  # one point and three digits: grouping
        ("1.250,5", Decimal("1250.5")),
        ("0,048", Decimal("0.048")),
        ("0,0480", Decimal("0.0480")),
        ("1,5", Decimal("1.5")),
        (",5", Decimal("0.5")),
        ("75.000", Decimal("75000")),
        ("1.250.000", Decimal("1250000")),
        ("1.250.000,75", Decimal("1250000.75")),
        ("-1.250,0480", Decimal("-1250.0480")),
        ("+12", Decimal("12")),
        ("1 250,5", Decimal("1250.5")),
        ("\u00a01\u00a0250,5\u00a0", Decimal("1250.5")),
        ("  30  ", Decimal("30")),
        # Both marks present: the last one is the decimal mark, whatever the language.
        ("1,250.5", Decimal("1250.5")),
    ],
)
def test_indonesian_reads_a_point_as_grouping_and_a_comma_as_decimal(text, expected):
    # Given a number as an Indonesian user types it
    # When it is read in Indonesian
    value = parse_decimal(text, "id")
    # Then it is exactly the number meant (scale kept as typed)
    assert value == expected
    assert str(value) == str(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,250", Decimal("1250")),
        ("1,250.5", Decimal("1250.5")),
        ("0.048", Decimal("0.048")),
        ("1.5", Decimal("1.5")),
        ("75,000", Decimal("75000")),
        ("1,250,000.75", Decimal("1250000.75")),
        ("-0.5", Decimal("-0.5")),
        ("1.250,5", Decimal("1250.5")),
    ],
)
def test_english_mirrors_it(text, expected):
    assert parse_decimal(text, "en") == expected


def test_regional_language_codes_use_their_language_marks():
    assert decimal_marks("id-ID") == (",", ".")
    assert decimal_marks("id") == (",", ".")
    assert decimal_marks("en-us") == (".", ",")
    assert decimal_marks(None) == (".", ",")
    assert parse_decimal("1.250", "id-id") == Decimal("1250")


# -- refusing -----------------------------------------------------------------


def test_an_empty_entry_is_refused_in_the_users_language():
    # Given nothing typed (or only spaces)
    # Then the refusal is in the language asked for, whatever is active
    with translation.override("en"):
        assert message("", "id") == "Masukkan angka."
        assert message("   ", "id") == "Masukkan angka."
    with translation.override("id"):
        assert message("", "en") == "Enter a number."


@pytest.mark.parametrize(
    "text", ["abc", "12a", "1e5", "1E5", "1,5e3", "NaN", "Infinity", "-", "1-2", "½"]
)
@pytest.mark.parametrize("language", ["id", "en"])
def test_letters_and_exponents_are_refused(text, language):
    example = "1.250,5" if language == "id" else "1,250.5"
    assert message(text, language) == translated(
        "Enter a number: digits, with separators written the usual way, for example %(example)s.",
        language,
        example=example,
    )


@pytest.mark.parametrize(
    ("text", "language"),
    [("1,250.000,5", "id"), ("1.250,000.5", "en"), ("1.2,3,4", "en")],
)
def test_several_decimal_marks_are_refused(text, language):
    assert message(text, language) == translated(
        "The number has more than one decimal mark.", language
    )


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("1.25.0", "id"),
        ("1.2500.000", "id"),
        ("12.34.567", "id"),
        ("0.250.000", "id"),  # a leading zero group is not a grouped number
        ("1,25,0", "en"),
        ("1,25.5", "en"),  # both marks, grouping wrong
        ("1.25,5", "id"),
    ],
)
def test_wrong_grouping_is_refused(text, language):
    example = "1.250,5" if language == "id" else "1,250.5"
    assert message(text, language) == translated(
        "Group the digits in threes, for example %(example)s.",
        language,
        example=example,
    )


@pytest.mark.parametrize(
    ("text", "language", "suggestion", "mark"),
    [
        ("1.5", "id", "1,5", "“,”"),
        ("0.048", "id", "0,048", "“,”"),  # never read as 48
        ("1250.500", "id", "1250,500", "“,”"),
        ("-2.75", "id", "-2,75", "“,”"),
        ("1,5", "en", "1.5", "“.”"),
        ("0,048", "en", "0.048", "“.”"),
    ],
)
def test_a_single_group_mark_that_cannot_be_grouping_is_refused_with_a_hint(
    text, language, suggestion, mark
):
    # Given an Indonesian typing "1.5" (English habit): guessing could make it 15
    # Then it is refused, and the message shows how to write it
    assert message(text, language) == translated(
        "Use %(mark)s as the decimal mark: write %(suggestion)s.",
        language,
        mark=mark,
        suggestion=suggestion,
    )


@pytest.mark.parametrize("text", ["5,", "1.250,", "5."])
def test_a_trailing_decimal_mark_is_refused(text):
    assert message(text, "id") == translated(
        "Enter the digits after the decimal mark, for example %(example)s.",
        "id",
        example="1.250,5",
    )


# -- writing ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "places", "indonesian", "english"),
    [
        (Decimal("1250.048"), 4, "1.250,0480", "1,250.0480"),
        (Decimal("0.048"), 4, "0,0480", "0.0480"),
        (Decimal("75000"), 0, "75.000", "75,000"),
        (Decimal("75000"), None, "75.000", "75,000"),
        (Decimal("120.0000"), None, "120", "120"),
        (Decimal("1.50"), None, "1,5", "1.5"),
        (Decimal("1234567.891"), 2, "1.234.567,89", "1,234,567.89"),
        (Decimal("-1234567.5"), 2, "-1.234.567,50", "-1,234,567.50"),
        (Decimal("-0.5"), 1, "-0,5", "-0.5"),
        (Decimal("0.00005"), 4, "0,0001", "0.0001"),  # half up
        (Decimal("0.00004"), 4, "0,0000", "0.0000"),
        (Decimal("-0.001"), 2, "0,00", "0.00"),  # no "negative zero"
        (Decimal("1E+3"), None, "1.000", "1,000"),  # never exponent notation
        (Decimal("0"), None, "0", "0"),
        (999, 0, "999", "999"),
        (1000, 2, "1.000,00", "1,000.00"),
    ],
)
def test_format_uses_the_languages_marks_with_thousands_grouping(
    value, places, indonesian, english
):
    assert format_decimal(value, places, "id") == indonesian
    assert format_decimal(value, places, "en") == english


# -- properties ---------------------------------------------------------------


@given(
    places=st.integers(min_value=0, max_value=6),
    language=st.sampled_from(["id", "en"]),
    data=st.data(),
)
def test_what_is_written_reads_back_as_the_same_number(places, language, data):
    # Given any number with up to six decimals
    value = data.draw(
        st.decimals(
            min_value=-(10**12),
            max_value=10**12,
            places=places,
            allow_nan=False,
            allow_infinity=False,
        )
    )
    # When it is written and read back in the same language
    text = format_decimal(value, places, language)
    # Then it is the same number, written without exponents
    assert "e" not in text.lower()
    assert parse_decimal(text, language) == value


@given(
    value=st.decimals(
        min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False
    ),
    language=st.sampled_from(["id", "en"]),
)
def test_writing_as_many_places_as_needed_reads_back_exactly(value, language):
    assert parse_decimal(format_decimal(value, None, language), language) == value
