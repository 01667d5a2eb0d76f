"""Organisation numbers and personnummer: examples from the product owner plus properties."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.identity import (
    LEGAL_FORM_LABELS_SV,
    IdentityNumber,
    InvalidIdentityNumber,
    LegalForm,
    luhn_check_digit,
    parse_identity_number,
)

FIRST_DIGITS = {
    "1": LegalForm.ESTATE,
    "2": LegalForm.PUBLIC,
    "3": LegalForm.FOREIGN,
    "5": LegalForm.LIMITED_COMPANY,
    "6": LegalForm.SIMPLE_PARTNERSHIP,
    "7": LegalForm.ECONOMIC_ASSOCIATION,
    "8": LegalForm.NON_PROFIT,
    "9": LegalForm.PARTNERSHIP,
}


def luhn_sum(number: str) -> int:
    """Textbook Luhn, written independently of the code under test: double every second
    digit from the right, starting with the one next to the check digit."""
    total = 0
    for index, char in enumerate(reversed(number)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value = value // 10 + value % 10
        total += value
    return total


def with_check(nine: str) -> str:
    return nine + str(luhn_check_digit(nine))


def dashed(ten: str) -> str:
    return f"{ten[:6]}-{ten[6:]}"


def reason_of(text: str) -> str:
    with pytest.raises(InvalidIdentityNumber) as caught:
        parse_identity_number(text)
    return caught.value.reason


# --- strategies -------------------------------------------------------------------------

digit = st.sampled_from(list("0123456789"))


@st.composite
def organisation_numbers(draw: st.DrawFn) -> str:
    """Ten digits, valid as an organisation number."""
    first = draw(st.sampled_from(sorted(FIRST_DIGITS)))
    second = draw(digit)
    middle = draw(st.integers(20, 99))
    rest = "".join(draw(st.lists(digit, min_size=5, max_size=5)))
    return with_check(f"{first}{second}{middle:02d}{rest}")


@st.composite
def personal_numbers(draw: st.DrawFn) -> tuple[date, str]:
    """A birth date and the twelve-digit personnummer or samordningsnummer for it."""
    born = draw(st.dates(min_value=date(1800, 1, 1), max_value=date(2099, 12, 31)))
    coordination = draw(st.booleans())
    serial = draw(st.integers(0, 999))
    day = born.day + (60 if coordination else 0)
    ten = with_check(f"{born:%y%m}{day:02d}{serial:03d}")
    return born, f"{born.year // 100}{ten}"


# --- luhn_check_digit ---------------------------------------------------------------------


def test_check_digits_of_the_real_examples():
    assert luhn_check_digit("556016068") == 0  # Ericsson AB
    assert luhn_check_digit("202100548") == 9


@pytest.mark.parametrize("bad", ["", "12a", "12 3", "１２３"])
def test_luhn_needs_ascii_digits(bad):
    with pytest.raises(ValueError):
        luhn_check_digit(bad)


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_appending_the_check_digit_makes_the_luhn_sum_a_multiple_of_ten(nine):
    assert luhn_sum(nine + str(luhn_check_digit(nine))) % 10 == 0


# --- organisation numbers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "form"),
    [("556016-0680", LegalForm.LIMITED_COMPANY), ("202100-5489", LegalForm.PUBLIC)],
)
def test_real_organisation_numbers(text, form):
    number = parse_identity_number(text)
    assert number == IdentityNumber(text.replace("-", ""), form)
    assert not number.is_personal
    assert number.formatted() == text
    assert number.masked() == text
    assert str(number) == text


@pytest.mark.parametrize(("first", "form"), sorted(FIRST_DIGITS.items()))
def test_each_legal_form_digit(first, form):
    ten = with_check(f"{first}56677889")
    assert parse_identity_number(dashed(ten)).legal_form is form
    assert parse_identity_number(ten).legal_form is form


@pytest.mark.parametrize("first", ["0", "4"])
def test_first_digits_without_a_legal_form_are_refused(first):
    ten = with_check(f"{first}56677889")
    assert reason_of(dashed(ten)) == f"första siffran ({first}) anger ingen känd organisationsform"


@pytest.mark.parametrize("text", ["165560160680", "16556016-0680", "  16556016-0680\n"])
def test_sixteen_prefixed_twelve_digit_form(text):
    assert parse_identity_number(text) == parse_identity_number("556016-0680")


def test_surrounding_whitespace_is_ignored():
    assert parse_identity_number("\t 556016-0680  ").digits == "5560160680"


def test_sixteen_prefix_must_be_followed_by_an_organisation_number():
    assert reason_of("16850101-1236") == (
        "efter 16 ska ett organisationsnummer följa, inte ett personnummer"
    )
    assert reason_of("16556016-0681") == "efter 16 ska ett organisationsnummer följa: kontrollsiffran stämmer inte"
    assert reason_of("16556016+0680") == "plustecken används bara i personnummer"


def test_plus_sign_is_only_for_personnummer():
    assert reason_of("556016+0680") == "plustecken används bara i personnummer"


def test_labels_cover_every_legal_form():
    assert set(LEGAL_FORM_LABELS_SV) == set(LegalForm)
    assert LEGAL_FORM_LABELS_SV[LegalForm.LIMITED_COMPANY] == "aktiebolag"
    assert LEGAL_FORM_LABELS_SV[LegalForm.NATURAL_PERSON] == "fysisk person"


# --- personnummer ---------------------------------------------------------------------------

PERSONNUMMER = "850101-1236"  # fictitious, valid check digit


@pytest.mark.parametrize(
    "text",
    ["850101-1236", "850101+1236", "8501011236", "19850101-1236", "19850101+1236", "198501011236"],
)
def test_personnummer_forms(text):
    number = parse_identity_number(text)
    assert number == IdentityNumber("8501011236", LegalForm.NATURAL_PERSON)
    assert number.is_personal


def test_check_digit_is_over_the_ten_digit_form_not_the_century():
    assert luhn_check_digit("850101123") == 6
    assert reason_of("198501011235") == "kontrollsiffran stämmer inte"


def test_coordination_number():
    ten = with_check("850161123")  # born the 1st, plus 60
    assert parse_identity_number(dashed(ten)).legal_form is LegalForm.NATURAL_PERSON
    assert parse_identity_number("19" + ten).legal_form is LegalForm.NATURAL_PERSON


def test_twelve_digit_form_checks_the_real_calendar():
    ten = with_check("850230123")  # 30 February
    assert parse_identity_number(ten).is_personal  # without a century, day ≤ 31 suffices
    assert reason_of("19" + ten) == "födelsedatumet i personnumret finns inte"
    coordination = with_check("850290123")  # 30 February as a samordningsnummer
    assert reason_of("19" + coordination) == "födelsedatumet i personnumret finns inte"
    leap_day = with_check("000229123")
    assert parse_identity_number("20" + leap_day).is_personal
    assert reason_of("19" + leap_day) == "födelsedatumet i personnumret finns inte"


@pytest.mark.parametrize("century", ["17", "21", "00"])
def test_twelve_digit_form_needs_a_known_century_or_sixteen(century):
    assert reason_of(century + "8501011236").startswith("ett 12-siffrigt nummer ska börja med 16")


def test_middle_digits_below_twenty_that_form_a_date_are_a_personnummer():
    ten = with_check("551201123")  # would be a limited company if 12 were ≥ 20
    number = parse_identity_number(dashed(ten))
    assert number.legal_form is LegalForm.NATURAL_PERSON


@pytest.mark.parametrize(
    ("nine", "reason"),
    [
        ("551301123", "siffra 3–4 ska vara minst 20 i ett organisationsnummer "
                      "eller en månad (01–12) i ett personnummer"),
        ("550001123", "siffra 3–4 ska vara minst 20 i ett organisationsnummer "
                      "eller en månad (01–12) i ett personnummer"),
        ("550100123", "dagen i personnumret ska vara 01–31, eller 61–91 i ett samordningsnummer"),
        ("550132123", "dagen i personnumret ska vara 01–31, eller 61–91 i ett samordningsnummer"),
        ("550160123", "dagen i personnumret ska vara 01–31, eller 61–91 i ett samordningsnummer"),
        ("550192123", "dagen i personnumret ska vara 01–31, eller 61–91 i ett samordningsnummer"),
    ],
)
def test_middle_digits_below_twenty_that_are_no_date_are_refused(nine, reason):
    assert reason_of(dashed(with_check(nine))) == reason


# --- malformed input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "organisations- eller personnummer saknas"),
        ("   ", "organisations- eller personnummer saknas"),
        ("556016-0681", "kontrollsiffran stämmer inte"),
        ("202100-5488", "kontrollsiffran stämmer inte"),
        ("850101-1235", "kontrollsiffran stämmer inte"),
        ("556016-068", "ska bestå av 10 eller 12 siffror"),
        ("55601606800", "ska bestå av 10 eller 12 siffror"),
        ("23210000", "ska bestå av 10 eller 12 siffror"),
        ("1655601606800", "ska bestå av 10 eller 12 siffror"),
        ("ABCDEF-0016", "får bara innehålla siffror och bindestreck eller plustecken"),
        ("556016-068O", "får bara innehålla siffror och bindestreck eller plustecken"),
        ("556016 0680", "får bara innehålla siffror och bindestreck eller plustecken"),
        ("５５６０１６-０６８０", "får bara innehålla siffror och bindestreck eller plustecken"),
        ("٥٥٦٠١٦-٠٦٨٠", "får bara innehålla siffror och bindestreck eller plustecken"),
        ("5560-160680", "bindestreck eller plustecken får bara stå före de fyra sista siffrorna"),
        ("556016--0680", "bindestreck eller plustecken får bara stå före de fyra sista siffrorna"),
        ("-5560160680", "bindestreck eller plustecken får bara stå före de fyra sista siffrorna"),
        ("556016-0680-", "bindestreck eller plustecken får bara stå före de fyra sista siffrorna"),
    ],
)
def test_malformed_input_is_refused_with_a_swedish_reason(text, reason):
    assert reason_of(text) == reason


def test_the_reason_is_the_message():
    with pytest.raises(InvalidIdentityNumber) as caught:
        parse_identity_number("556016-0681")
    assert str(caught.value) == caught.value.reason == "kontrollsiffran stämmer inte"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("number", ["232100-0017", "23210000", "ABCDEF-0016", "432100-0018", ""])
def test_numbers_the_form_rules_treat_as_invalid(number):
    with pytest.raises(InvalidIdentityNumber):
        parse_identity_number(number)


def test_construction_revalidates():
    with pytest.raises(InvalidIdentityNumber):
        IdentityNumber("5560160680", LegalForm.NATURAL_PERSON)
    with pytest.raises(InvalidIdentityNumber):
        IdentityNumber("556016-0680", LegalForm.LIMITED_COMPANY)
    with pytest.raises(InvalidIdentityNumber):
        IdentityNumber("5560160681", LegalForm.LIMITED_COMPANY)
    number = parse_identity_number("556016-0680")
    with pytest.raises(InvalidIdentityNumber):
        dataclasses.replace(number, legal_form=LegalForm.PUBLIC)
    with pytest.raises(dataclasses.FrozenInstanceError):
        number.digits = "2021005489"  # type: ignore[misc]


# --- personal data --------------------------------------------------------------------------


def test_a_personnummer_is_masked_everywhere():
    number = parse_identity_number(PERSONNUMMER)
    assert number.masked() == "850101-****"
    assert str(number) == "850101-****"
    assert f"{number}" == "850101-****"
    assert "1236" not in repr(number)
    assert "1236" not in str([number])
    assert number.formatted() == PERSONNUMMER  # only for callers that know it is needed


@given(personal_numbers())
def test_masked_repr_and_str_never_show_more_than_the_date(case):
    _, twelve = case
    number = parse_identity_number(twelve)
    assert number.masked() == f"{twelve[2:8]}-****"
    for shown in (number.masked(), str(number), repr(number), str({"n": number})):
        assert sum(char.isdigit() for char in shown) == 6


@given(personal_numbers())
def test_a_refused_personnummer_is_not_quoted_in_the_reason(case):
    _, twelve = case
    broken = twelve[:-1] + str((int(twelve[-1]) + 1) % 10)
    reason = reason_of(broken)
    assert not any(char.isdigit() for char in reason)


# --- properties -----------------------------------------------------------------------------


@given(organisation_numbers())
def test_generated_organisation_numbers_parse_with_the_form_of_their_first_digit(ten):
    number = parse_identity_number(dashed(ten))
    assert number.digits == ten
    assert number.legal_form is FIRST_DIGITS[ten[0]]


@given(organisation_numbers() | personal_numbers().map(lambda case: case[1][2:]),
       st.integers(1, 9))
def test_changing_the_check_digit_alone_always_fails(ten, shift):
    broken = ten[:9] + str((int(ten[9]) + shift) % 10)
    assert reason_of(dashed(broken)) == "kontrollsiffran stämmer inte"


@given(organisation_numbers() | personal_numbers().map(lambda case: case[1][2:]),
       st.integers(0, 8), st.integers(1, 9))
def test_changing_any_one_of_the_first_nine_digits_always_fails(ten, position, shift):
    changed = str((int(ten[position]) + shift) % 10)
    broken = ten[:position] + changed + ten[position + 1:]
    assert luhn_sum(broken) % 10 != 0
    with pytest.raises(InvalidIdentityNumber):
        parse_identity_number(dashed(broken))


@given(organisation_numbers())
def test_formatted_round_trips_for_organisations(ten):
    number = parse_identity_number(ten)
    assert parse_identity_number(number.formatted()) == number
    assert number.formatted() == dashed(ten)


@given(organisation_numbers())
def test_ten_digit_and_sixteen_prefixed_forms_agree(ten):
    expected = parse_identity_number(ten)
    assert parse_identity_number("16" + ten) == expected
    assert parse_identity_number("16" + dashed(ten)) == expected
    assert parse_identity_number(dashed(ten)) == expected


@given(personal_numbers(), st.sampled_from(["", "-", "+"]))
def test_twelve_and_ten_digit_personnummer_agree(case, separator):
    _, twelve = case
    expected = IdentityNumber(twelve[2:], LegalForm.NATURAL_PERSON)
    assert parse_identity_number(f"{twelve[:8]}{separator}{twelve[8:]}") == expected
    assert parse_identity_number(f"{twelve[2:8]}{separator}{twelve[8:]}") == expected


@given(organisation_numbers())
def test_an_organisation_number_is_never_personal(ten):
    assert not parse_identity_number(ten).is_personal


@given(st.text(max_size=20) | st.from_regex(r"\A[0-9+\- ]{8,14}\Z"))
def test_any_text_either_parses_to_a_valid_number_or_is_refused(text):
    try:
        number = parse_identity_number(text)
    except InvalidIdentityNumber as error:
        assert error.reason
        return
    assert len(number.digits) == 10
    assert luhn_sum(number.digits) % 10 == 0
    assert parse_identity_number(number.digits) == number


@given(st.text(alphabet="0123456789", min_size=10, max_size=10))
def test_ten_digits_failing_luhn_are_always_refused(ten):
    assume(luhn_sum(ten) % 10 != 0)
    with pytest.raises(InvalidIdentityNumber):
        parse_identity_number(ten)
