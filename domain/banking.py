"""Banking days, as operations count a payout's wait for its bank file.

Monday to Friday. Swedish bank holidays are not counted out: over a holiday the count runs one day
ahead of the bank's, which at worst warns operations a day early.
"""

from __future__ import annotations

from datetime import date, timedelta


def banking_days_between(start: date, end: date) -> int:
    """The banking days after `start` up to and including `end` (0 when `end` is not after `start`)."""
    if end <= start:
        return 0
    weeks, rest = divmod((end - start).days, 7)
    days = weeks * 5
    for offset in range(1, rest + 1):
        if (start + timedelta(days=offset)).weekday() < 5:
            days += 1
    return days
