from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.banking import banking_days_between


def test_a_weekend_is_no_banking_days() -> None:
    friday = date(2026, 12, 4)
    assert banking_days_between(friday, friday + timedelta(days=2)) == 0  # to Sunday
    assert banking_days_between(friday, friday + timedelta(days=3)) == 1  # to Monday
    assert banking_days_between(friday, friday + timedelta(days=4)) == 2  # to Tuesday
    assert banking_days_between(friday, friday) == 0
    assert banking_days_between(friday, friday - timedelta(days=1)) == 0


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 400))
def test_counts_the_weekdays_one_by_one(start: date, span: int) -> None:
    end = start + timedelta(days=span)
    expected = sum(1 for n in range(1, span + 1) if (start + timedelta(days=n)).weekday() < 5)
    assert banking_days_between(start, end) == expected
