from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.banking import banking_days_between, easter_sunday, midsummer_eve, swedish_bank_holidays


def test_a_weekend_is_no_banking_days() -> None:
    friday = date(2026, 12, 4)
    assert banking_days_between(friday, friday + timedelta(days=2)) == 0  # to Sunday
    assert banking_days_between(friday, friday + timedelta(days=3)) == 1  # to Monday
    assert banking_days_between(friday, friday + timedelta(days=4)) == 2  # to Tuesday
    assert banking_days_between(friday, friday) == 0
    assert banking_days_between(friday, friday - timedelta(days=1)) == 0


@pytest.mark.parametrize("year, easter", [
    (2024, date(2024, 3, 31)), (2025, date(2025, 4, 20)), (2026, date(2026, 4, 5)),
    (2027, date(2027, 3, 28)), (2038, date(2038, 4, 25)), (2000, date(2000, 4, 23)), (2019, date(2019, 4, 21)),
])
def test_easter_sunday(year: int, easter: date) -> None:
    assert easter_sunday(year) == easter


def test_the_holidays_of_2026() -> None:
    assert midsummer_eve(2026) == date(2026, 6, 19)
    assert midsummer_eve(2027) == date(2027, 6, 25)
    assert swedish_bank_holidays(2026) == {
        date(2026, 1, 1), date(2026, 1, 6), date(2026, 4, 3), date(2026, 4, 6), date(2026, 5, 1),
        date(2026, 5, 14), date(2026, 6, 6), date(2026, 6, 19), date(2026, 12, 24), date(2026, 12, 25),
        date(2026, 12, 26), date(2026, 12, 31),
    }


def test_easter_is_two_days_off() -> None:
    # After Thursday 2 April: Good Friday, the weekend and Easter Monday; Tuesday 7 April is the one.
    assert banking_days_between(date(2026, 4, 2), date(2026, 4, 7)) == 1
    assert banking_days_between(date(2026, 4, 2), date(2026, 4, 6)) == 0


def test_christmas_and_new_year() -> None:
    # After Wednesday 23 Dec 2026: 24, 25 (Thu, Fri) closed, weekend, Mon 28 to Wed 30 open,
    # 31 Dec and 1 Jan closed, weekend, Mon 4 and Tue 5 Jan open, 6 Jan closed.
    assert banking_days_between(date(2026, 12, 23), date(2027, 1, 6)) == 5


def test_a_holiday_on_a_weekend_is_not_taken_off_twice() -> None:
    assert date(2026, 6, 6).weekday() == 5  # National Day 2026 is a Saturday
    assert banking_days_between(date(2026, 6, 5), date(2026, 6, 8)) == 1  # Friday to Monday


def _brute_force(start: date, end: date) -> int:
    return sum(1 for n in range(1, (end - start).days + 1)
               if (day := start + timedelta(days=n)).weekday() < 5 and day not in swedish_bank_holidays(day.year))


def test_a_whole_year() -> None:
    start, end = date(2025, 12, 31), date(2026, 12, 31)
    assert banking_days_between(start, end) == _brute_force(start, end) == 261 - 10


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 800))
def test_counts_the_banking_days_one_by_one(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    assert banking_days_between(start, end) == _brute_force(start, end)
