"""Money is exact: property tests over rounding, sums, shares and formatting."""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic_core import to_json

from domain.money import Kronor, Share, apply_share, format_kronor, format_share, share_of, to_ore, total
from tests.factories import application_2021, check, errors

ore_amounts = st.integers(min_value=0, max_value=10**13).map(lambda n: Decimal(n) / 100)
any_decimals = st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False, places=6)
shares = st.fractions(min_value=0, max_value=1, max_denominator=1000)


@given(any_decimals)
def test_rounding_to_ore_is_within_half_an_ore_and_idempotent(amount):
    rounded = to_ore(amount)
    assert abs(rounded - amount) <= Decimal("0.005")
    assert rounded.as_tuple().exponent == -2
    assert to_ore(rounded) == rounded


def test_half_an_ore_rounds_away_from_zero():
    assert to_ore(Decimal("0.005")) == Decimal("0.01")
    assert to_ore(Decimal("2.675")) == Decimal("2.68")  # a float would say 2.67
    assert to_ore(Fraction(1, 3)) == Decimal("0.33")


@given(st.lists(ore_amounts, max_size=50))
def test_totals_are_exact(amounts):
    assert total(amounts) == Decimal(sum(int(a * 100) for a in amounts)) / 100


@given(ore_amounts, ore_amounts.filter(lambda d: d > 0))
def test_a_share_times_its_whole_gives_back_the_part(part, whole):
    assert share_of(part, whole) * Fraction(whole) == Fraction(part)


@given(shares, ore_amounts)
def test_applying_a_share_rounds_only_once(share, amount):
    exact = share * Fraction(amount)
    assert abs(Fraction(apply_share(share, amount)) - exact) <= Fraction(1, 200)


@given(ore_amounts)
def test_formatting_keeps_every_digit(amount):
    text = format_kronor(amount)
    assert text.endswith("\u00a0kr")
    digits = text.removesuffix("\u00a0kr").replace("\u00a0", "").replace(",", ".")
    assert Decimal(digits) == amount


def test_formatting_as_an_officer_writes():
    assert format_kronor(Decimal("1250000")) == "1\u00a0250\u00a0000\u00a0kr"
    assert format_kronor(Decimal("1250.5")) == "1\u00a0250,50\u00a0kr"
    assert format_share(Fraction(1, 4)) == "25\u00a0%"
    assert format_share(Fraction(1, 3)) == "33,3\u00a0%"


@pytest.mark.parametrize("value", ["1/3", "0.25", "1", "0", Fraction(1, 2), 1])
def test_shares_are_read_exactly(value):
    assert TypeAdapter(Share).validate_python(value) == Fraction(value)


@pytest.mark.parametrize("value", [0.25, "3/2", "-1/4", "a third", True, "1/0"])
def test_floats_and_impossible_shares_are_refused(value):
    with pytest.raises(ValidationError):
        TypeAdapter(Share).validate_python(value)


@pytest.mark.parametrize(
    "value", ["-0.01", "0.001", "NaN", "Infinity", "1e20", "6.3E+5", "1 000", "+100", " 100", ".5", "1000000000000",
              "١٠٠", Decimal("-1"), Decimal("0.001")],
)
def test_kronor_refuses_what_is_not_an_amount(value):
    with pytest.raises(ValidationError):
        TypeAdapter(Kronor).validate_python(value)


@pytest.mark.parametrize("value", [100.0, 100.5, True, False])
def test_kronor_refuses_floats_and_bools_and_says_how_to_write_an_amount(value):
    with pytest.raises(ValidationError, match=re.escape('skriv belopp som en text, t.ex. "400000.00"')):
        TypeAdapter(Kronor).validate_python(value)


@pytest.mark.parametrize("raw", ["100.000000000000000001", "100.5", "1e3", "100.0", "true"])
def test_kronor_refuses_json_numbers_with_decimals_which_have_been_through_a_float(raw):
    with pytest.raises(ValidationError, match=re.escape('skriv belopp som en text, t.ex. "400000.00"')):
        TypeAdapter(Kronor).validate_json(raw)


@pytest.mark.parametrize(
    ("raw", "amount"),
    [('"400000.00"', "400000.00"), ('"0.5"', "0.5"), ("400000", "400000"), ("123456789012", "123456789012"),
     ('"999999999999.99"', "999999999999.99")],
)
def test_kronor_reads_strings_and_json_integers_exactly(raw, amount):
    read = TypeAdapter(Kronor).validate_json(raw)
    assert read == Decimal(amount) and str(read) == amount


def test_minus_zero_is_zero():
    read = TypeAdapter(Kronor).validate_json('"-0"')
    assert read == 0 and not read.is_signed()
    assert format_kronor(read) == "0\u00a0kr"


class _Amounts(BaseModel):
    amount: Kronor
    optional: Kronor | None = None


@given(ore_amounts | st.sampled_from([Decimal("1E+3"), Decimal("0E-2"), Decimal("5E+6"), Decimal("0")]))
def test_kronor_survives_a_temporal_payload(amount):
    # pydantic_data_converter writes a model with to_json and reads it with validate_json.
    model = _Amounts(amount=amount, optional=amount)
    again = _Amounts.model_validate_json(to_json(model))
    assert again == model
    assert _Amounts.model_validate_json(model.model_dump_json()) == model
    assert _Amounts.model_validate(model.model_dump()) == model


def test_the_schema_advertises_amounts_as_strings_with_a_pattern():
    schema = TypeAdapter(Kronor).json_schema()
    assert schema["type"] == "string"
    pattern = re.compile(schema["pattern"])
    assert pattern.match("400000.00") and pattern.match("400000")
    assert not any(pattern.match(text) for text in ["6.3E+5", "-1", "12.345", "1 000"])


@given(st.integers(min_value=0, max_value=760_000_00))
def test_the_co_financing_rule_is_exact_to_the_ore(cash_ore):
    # Budget 760 000 kr; 25 % is 190 000 kr. The rule fires exactly when cash < budget / 4.
    cash = Decimal(cash_ore) / 100
    data = application_2021()
    data["financing"][0]["amount"] = str(cash)
    data["requested_amount"] = str(Decimal("760000.00") - cash)
    fired = "ES21-COFIN-SHARE" in errors(check(data))
    assert fired == (cash * 4 < Decimal("760000.00"))
