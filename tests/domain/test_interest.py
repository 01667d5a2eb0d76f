"""Interest on a reclaim: hand-computed examples, the rates file, and properties.

Most examples use 36 500 kr, on which each percent of annual rate is exactly 1 kr a day
under actual/365, so every figure can be checked in one's head.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from activities.rates import load_reference_rates
from domain.interest import (
    ClaimTerms,
    MissingReferenceRate,
    ReferenceRateFileError,
    ReferenceRates,
    Repayment,
    claim_balance,
    days_overdue,
    half_year_of,
    parse_reference_rates,
)

D = Decimal


def rates(**by_half_year: str) -> ReferenceRates:
    """`rates(y2022_H1="0.00")` → a ReferenceRates with just those half-years."""
    return ReferenceRates(
        source="test",
        rates=[{"half_year": key[1:].replace("_", "-"), "percent": p} for key, p in by_half_year.items()],
    )


TEST_RATES = rates(
    y2019_H1="-0.50", y2019_H2="0.00",
    y2021_H1="0.00", y2021_H2="0.00",
    y2022_H1="0.00", y2022_H2="0.50",
    y2023_H1="2.50", y2023_H2="3.50",
)


def terms(principal: str, interest_from: date, due_date: date, **margins: str) -> ClaimTerms:
    return ClaimTerms(
        principal=D(principal), interest_from=interest_from, due_date=due_date,
        **{k: D(v) for k, v in margins.items()},
    )


# --- Hand-computed examples ---------------------------------------------------------


def test_73_days_at_two_percent_on_100_000_kr_is_400_kr():
    claim = terms("100000", date(2021, 1, 1), due_date=date(2021, 6, 30))
    balance = claim_balance(claim, [], date(2021, 3, 15), TEST_RATES)  # 2 Jan .. 15 Mar: 30 + 28 + 15 days
    assert balance.interest_due == D("400.00")
    assert balance.principal_left == D("100000")
    assert balance.total_due == D("100400.00")
    assert not balance.overdue
    [period] = balance.periods
    assert (period.first_day, period.last_day, period.days) == (date(2021, 1, 2), date(2021, 3, 15), 73)
    assert (period.annual_percent, period.base, period.interest) == (D("2.00"), D("100000"), D("400.00"))


def test_interest_from_is_exclusive_and_nothing_accrues_on_that_day():
    claim = terms("36500", date(2021, 1, 1), due_date=date(2021, 6, 30))
    assert claim_balance(claim, [], date(2021, 1, 1), TEST_RATES).interest_due == 0
    assert claim_balance(claim, [], date(2021, 1, 2), TEST_RATES).interest_due == D("2.00")
    assert claim_balance(claim, [], date(2020, 12, 1), TEST_RATES).total_due == D("36500")


def test_a_half_year_boundary_changes_the_reference_rate():
    # 2022-H1 reference 0.00, 2022-H2 0.50; 10 days on each side.
    claim = terms("36500", date(2022, 6, 20), due_date=date(2022, 12, 31))
    balance = claim_balance(claim, [], date(2022, 7, 10), TEST_RATES)
    assert [(p.first_day, p.last_day, p.annual_percent, p.interest) for p in balance.periods] == [
        (date(2022, 6, 21), date(2022, 6, 30), D("2.00"), D("20.00")),
        (date(2022, 7, 1), date(2022, 7, 10), D("2.50"), D("25.00")),
    ]
    assert balance.interest_due == D("45.00")


def test_after_the_due_date_the_margin_goes_from_two_to_eight_points():
    # 2023-H1 reference 2.50: 4.50 % up to and including 1 March, 10.50 % after it.
    claim = terms("36500", date(2023, 1, 31), due_date=date(2023, 3, 1))
    on = date(2023, 3, 11)
    balance = claim_balance(claim, [], on, TEST_RATES)
    assert [(p.first_day, p.last_day, p.days, p.annual_percent, p.interest) for p in balance.periods] == [
        (date(2023, 2, 1), date(2023, 3, 1), 29, D("4.50"), D("130.50")),
        (date(2023, 3, 2), date(2023, 3, 11), 10, D("10.50"), D("105.00")),
    ]
    assert balance.interest_due == D("235.50")
    assert balance.overdue
    assert days_overdue(claim, on) == 10


def test_margins_are_parameters_of_the_claim():
    claim = terms("36500", date(2023, 1, 31), due_date=date(2023, 3, 1), margin_before_due="0", margin_after_due="10")
    balance = claim_balance(claim, [], date(2023, 3, 11), TEST_RATES)
    assert [p.annual_percent for p in balance.periods] == [D("2.50"), D("12.50")]
    assert balance.interest_due == D("72.50") + D("125.00")


def test_repayment_pays_interest_first_then_principal_and_counts_at_end_of_its_day():
    claim = terms("36500", date(2021, 1, 1), due_date=date(2021, 12, 31))
    paid = Repayment(paid_on=date(2021, 2, 19), amount=D("1000"))
    balance = claim_balance(claim, [paid], date(2021, 3, 1), TEST_RATES)
    # 2 Jan .. 19 Feb is 49 days at 2 kr = 98.00; the payment day itself is on the old principal.
    [applied] = balance.repayments
    assert (applied.to_interest, applied.to_principal, applied.excess) == (D("98.00"), D("902.00"), 0)
    first, second = balance.periods
    assert (first.last_day, first.base, first.interest) == (date(2021, 2, 19), D("36500"), D("98.00"))
    # 20 Feb .. 1 Mar is 10 days on 35 598 kr at 2 %: 19.5057… → 19.51.
    assert (second.first_day, second.base, second.interest) == (date(2021, 2, 20), D("35598.00"), D("19.51"))
    assert balance.principal_left == D("35598.00")
    assert balance.interest_due == D("19.51")
    assert balance.total_due == D("35617.51")


def test_a_repayment_smaller_than_the_interest_leaves_the_principal_alone():
    claim = terms("36500", date(2021, 1, 1), due_date=date(2021, 12, 31))
    balance = claim_balance(claim, [Repayment(paid_on=date(2021, 1, 11), amount=D("5"))], date(2021, 1, 11), TEST_RATES)
    assert (balance.principal_left, balance.interest_due) == (D("36500"), D("15.00"))


def test_repaid_to_exactly_zero_owes_nothing_and_is_not_overdue():
    claim = terms("36500", date(2021, 1, 1), due_date=date(2021, 3, 31))
    paid = Repayment(paid_on=date(2021, 1, 11), amount=D("36520.00"))  # 10 days' interest + principal
    balance = claim_balance(claim, [paid], date(2021, 12, 31), TEST_RATES)
    assert (balance.principal_left, balance.interest_due, balance.overpaid) == (0, 0, 0)
    assert balance.total_due == 0
    assert not balance.overdue
    assert days_overdue(claim, date(2021, 12, 31)) == 275  # calendar only: says nothing about payment
    assert balance.periods[-1].last_day == date(2021, 1, 11)  # nothing accrues on nothing


def test_paying_too_much_is_reported_as_overpaid_never_as_a_negative_amount():
    claim = terms("36500", date(2021, 1, 1), due_date=date(2021, 3, 31))
    paid = [
        Repayment(paid_on=date(2021, 1, 11), amount=D("30000")),
        Repayment(paid_on=date(2021, 1, 12), amount=D("10000")),
    ]
    balance = claim_balance(claim, paid, date(2021, 6, 1), TEST_RATES)
    # 20.00 interest to 11 Jan; then 6 520 kr principal bears 0.357… ≈ 0.36 kr on 12 Jan.
    assert balance.repayments[1].excess == D("10000") - D("6520.00") - D("0.36")
    assert balance.overpaid == D("3479.64")
    assert (balance.principal_left, balance.interest_due, balance.total_due) == (0, 0, 0)


def test_repayments_after_the_day_asked_about_are_ignored_and_order_of_input_does_not_matter():
    claim = terms("36500", date(2021, 1, 1), due_date=date(2021, 12, 31))
    early = Repayment(paid_on=date(2021, 1, 11), amount=D("20"))
    late = Repayment(paid_on=date(2021, 3, 1), amount=D("9"))
    on = date(2021, 1, 21)
    assert claim_balance(claim, [late, early], on, TEST_RATES) == claim_balance(claim, [early], on, TEST_RATES)
    assert claim_balance(claim, [late, early], on, TEST_RATES).interest_due == D("20.00")


def test_a_repayment_before_interest_starts_reduces_the_principal():
    claim = terms("36500", date(2021, 1, 31), due_date=date(2021, 12, 31))
    paid = Repayment(paid_on=date(2021, 1, 10), amount=D("18250"))
    balance = claim_balance(claim, [paid], date(2021, 2, 10), TEST_RATES)
    assert balance.principal_left == D("18250")
    assert balance.interest_due == D("10.00")  # 1 .. 10 Feb at 1 kr a day on half the principal


def test_a_negative_effective_rate_counts_as_zero():
    # 2019-H1 reference −0.50: with no margin the effective rate would be −0.50 %.
    claim = terms("36500", date(2019, 1, 1), due_date=date(2019, 6, 30), margin_before_due="0")
    balance = claim_balance(claim, [], date(2019, 3, 1), TEST_RATES)
    assert balance.interest_due == 0
    assert [p.annual_percent for p in balance.periods] == [0]
    # With the statutory 2 points it is 1.50 %, not floored.
    statutory = terms("36500", date(2019, 1, 1), due_date=date(2019, 6, 30))
    assert claim_balance(statutory, [], date(2019, 1, 11), TEST_RATES).interest_due == D("15.00")


def test_the_last_days_of_a_leap_year_still_count_365_to_the_year():
    claim = terms("36500", date(2020, 2, 27), due_date=date(2020, 12, 31))
    balance = claim_balance(claim, [], date(2020, 3, 1), rates(y2020_H1="0.00"))
    assert balance.periods[0].days == 3  # 28, 29 Feb, 1 Mar
    assert balance.interest_due == D("6.00")


# --- Missing rates and the rates file -------------------------------------------------


def test_a_missing_reference_rate_is_named_in_swedish():
    with pytest.raises(MissingReferenceRate, match=r"^Referensränta saknas för första halvåret 2027$"):
        TEST_RATES.rate_for(date(2027, 3, 1))
    with pytest.raises(MissingReferenceRate, match="andra halvåret 2020") as caught:
        TEST_RATES.rate_for(date(2020, 7, 1))
    assert caught.value.half_year == "2020-H2"
    assert isinstance(caught.value, ValueError)


def test_claim_balance_stops_at_the_first_missing_rate():
    claim = terms("36500", date(2023, 12, 1), due_date=date(2023, 12, 31))
    with pytest.raises(MissingReferenceRate, match="första halvåret 2024"):
        claim_balance(claim, [], date(2024, 1, 5), TEST_RATES)


def test_a_settled_claim_needs_no_rates_for_the_days_after():
    claim = terms("36500", date(2023, 12, 1), due_date=date(2023, 12, 31))
    paid = Repayment(paid_on=date(2023, 12, 31), amount=D("40000"))
    assert claim_balance(claim, [paid], date(2030, 1, 1), TEST_RATES).total_due == 0


def test_bundled_rates_cover_every_half_year_from_2019():
    bundled = load_reference_rates()
    assert bundled is load_reference_rates()  # read once
    assert "9 §" in bundled.source
    day = date(2019, 1, 1)
    while day < date(2026, 7, 1):
        bundled.rate_for(day)
        day += timedelta(days=182)
    assert bundled.rate_for(date(2022, 1, 1)) == D("0.00")
    assert bundled.rate_for(date(2022, 7, 1)) == D("0.50")  # 0.25 % policy rate rounded up to a half point
    assert bundled.rate_for(date(2023, 12, 31)) == D("3.50")


@pytest.mark.parametrize(("text", "where"), [
    ('source = "x"\n[[rates]]\nhalf_year = "2021-H1"\npercent = 0.5\n', "rates[0].percent"),
    ('source = "x"\n[[rates]]\nhalf_year = "2021-H3"\npercent = "0.5"\n', "rates[0].half_year"),
    ('source = "x"\n[[rates]]\nhalf_year = "2021-H1"\n', "rates[0].percent"),
    ('source = "x"\n[[rates]]\nhalf_year = "2021-H1"\npercent = "lots"\n', "rates[0].percent"),
    ('[[rates]]\nhalf_year = "2021-H1"\npercent = "0.5"\n', "source"),
    ('source = "x"\n[[rates]]\nhalf_year = "2021-H1"\npercent = "0.5"\nnote = "?"\n', "rates[0].note"),
])
def test_a_broken_rates_file_names_the_key(text, where):
    with pytest.raises(ReferenceRateFileError, match=rf"^rates\.toml: {re.escape(where)}: "):
        parse_reference_rates(text, "rates.toml")


def test_a_rates_file_that_is_not_toml_or_repeats_a_half_year_is_refused():
    with pytest.raises(ReferenceRateFileError, match="not valid TOML"):
        parse_reference_rates("source = ", "rates.toml")
    twice = 'source = "x"\n' + '[[rates]]\nhalf_year = "2021-H1"\npercent = "0.00"\n' * 2
    with pytest.raises(ReferenceRateFileError, match="2021-H1 is given more than once"):
        parse_reference_rates(twice, "rates.toml")


def test_claim_inputs_are_validated():
    with pytest.raises(ValidationError):
        Repayment(paid_on=date(2021, 1, 1), amount=D("0"))
    with pytest.raises(ValidationError):
        terms("-1", date(2021, 1, 1), date(2021, 2, 1))
    with pytest.raises(ValidationError, match="interest_from must not be after due_date"):
        terms("1", date(2021, 2, 2), date(2021, 2, 1))


def test_half_year_keys():
    assert half_year_of(date(2021, 6, 30)) == "2021-H1"
    assert half_year_of(date(2021, 7, 1)) == "2021-H2"


# --- Properties ---------------------------------------------------------------------

# Rates from 2015 to 2035, negative ones included, so any generated claim finds its rate.
WIDE_RATES = ReferenceRates(source="test", rates=[
    {"half_year": f"{year}-H{half}", "percent": str(D((year * 7 + half * 3) % 11 - 2) / 2)}
    for year in range(2015, 2036) for half in (1, 2)
])

money = st.integers(min_value=0, max_value=10**9).map(lambda n: Decimal(n) / 100)
positive_money = st.integers(min_value=1, max_value=10**8).map(lambda n: Decimal(n) / 100)
margins = st.sampled_from(["0", "0.5", "2", "8", "12.25"]).map(Decimal)


@st.composite
def claims(draw: st.DrawFn) -> ClaimTerms:
    interest_from = draw(st.dates(min_value=date(2016, 1, 1), max_value=date(2030, 12, 31)))
    due_date = interest_from + timedelta(days=draw(st.integers(0, 400)))
    return ClaimTerms(
        principal=draw(money), interest_from=interest_from, due_date=due_date,
        margin_before_due=draw(margins), margin_after_due=draw(margins),
    )


def repayments_for(claim: ClaimTerms) -> st.SearchStrategy[list[Repayment]]:
    return st.lists(st.builds(
        Repayment,
        paid_on=st.integers(-30, 900).map(lambda n: claim.interest_from + timedelta(days=n)),
        amount=positive_money,
    ), max_size=6)


@given(st.data())
def test_no_amount_is_ever_negative_and_the_parts_add_up(data):
    claim = data.draw(claims())
    paid = data.draw(repayments_for(claim))
    on = claim.interest_from + timedelta(days=data.draw(st.integers(-30, 1000)))
    balance = claim_balance(claim, paid, on, WIDE_RATES)
    assert min(balance.principal_left, balance.interest_due, balance.overpaid, balance.total_due) >= 0
    assert balance.total_due == balance.principal_left + balance.interest_due
    assert balance.overdue == (on > claim.due_date and balance.total_due > 0)
    counted = [r for r in paid if r.paid_on <= on]
    # Every krona paid went somewhere, and every öre of interest is in a period.
    assert sum(r.amount for r in counted) == sum(a.to_interest + a.to_principal + a.excess for a in balance.repayments)
    assert balance.principal_left == claim.principal - sum(a.to_principal for a in balance.repayments)
    accrued = sum(p.interest for p in balance.periods)
    assert balance.interest_due == accrued - sum(a.to_interest for a in balance.repayments)
    assert balance.overpaid == 0 or balance.total_due == 0


@given(st.data())
def test_paying_more_never_increases_what_is_due(data):
    claim = data.draw(claims())
    paid = data.draw(repayments_for(claim))
    extra = data.draw(repayments_for(claim).filter(bool))[0]
    on = claim.interest_from + timedelta(days=data.draw(st.integers(0, 1000)))
    before = claim_balance(claim, paid, on, WIDE_RATES)
    after = claim_balance(claim, [*paid, extra], on, WIDE_RATES)
    assert after.total_due <= before.total_due


@given(claims(), st.integers(-30, 1000), st.integers(0, 400))
def test_without_repayments_interest_never_decreases_with_time(claim, offset, later):
    on = claim.interest_from + timedelta(days=offset)
    earlier = claim_balance(claim, [], on, WIDE_RATES)
    then = claim_balance(claim, [], on + timedelta(days=later), WIDE_RATES)
    assert earlier.interest_due <= then.interest_due
    assert then.principal_left == claim.principal
