"""Banking days, as operations count a payout's wait for its bank file.

Swedish banking days: Monday to Friday, less the weekdays Swedish banks are closed. Besides the
public holidays that is Midsummer Eve, Christmas Eve and New Year's Eve: not public holidays, but the
banks are closed, so a payout waiting over them has not waited a banking day.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache


def easter_sunday(year: int) -> date:
    """Easter Sunday of a Gregorian year (the anonymous Gregorian algorithm, Meeus/Jones/Butcher)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month, day = divmod(h + ell - 7 * m + 114, 31)
    return date(year, month, day + 1)


def midsummer_eve(year: int) -> date:
    """The Friday from 19 to 25 June."""
    june_19 = date(year, 6, 19)
    return june_19 + timedelta(days=(4 - june_19.weekday()) % 7)


@cache
def swedish_bank_holidays(year: int) -> frozenset[date]:
    """The days of `year` Swedish banks are closed besides Saturdays and Sundays (some may fall on one)."""
    easter = easter_sunday(year)
    return frozenset({
        date(year, 1, 1),                # New Year's Day
        date(year, 1, 6),                # Epiphany
        easter - timedelta(days=2),      # Good Friday
        easter + timedelta(days=1),      # Easter Monday
        date(year, 5, 1),                # May Day
        easter + timedelta(days=39),     # Ascension Day
        date(year, 6, 6),                # National Day
        midsummer_eve(year),
        date(year, 12, 24),              # Christmas Eve
        date(year, 12, 25),              # Christmas Day
        date(year, 12, 26),              # Boxing Day
        date(year, 12, 31),              # New Year's Eve
    })


def banking_days_between(start: date, end: date) -> int:
    """The Swedish banking days after `start` up to and including `end` (0 when `end` is not after `start`)."""
    if end <= start:
        return 0
    # Whole weeks hold five weekdays each, so a span of months costs a few steps per year, not per day.
    weeks, rest = divmod((end - start).days, 7)
    days = weeks * 5
    for offset in range(1, rest + 1):
        if (start + timedelta(days=offset)).weekday() < 5:
            days += 1
    # A holiday on a weekend was never counted, so only weekday holidays come off.
    for year in range(start.year, end.year + 1):
        days -= sum(1 for holiday in swedish_bank_holidays(year)
                    if start < holiday <= end and holiday.weekday() < 5)
    return days
