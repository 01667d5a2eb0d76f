"""Time as the agency counts it: instants in UTC, days in Stockholm."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def require_utc(instant: datetime) -> datetime:
    """Normalise an instant to UTC; a naive datetime has no place in a case file."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("an instant must carry a time zone")
    return instant.astimezone(UTC)


def stockholm_date(instant: datetime) -> date:
    return require_utc(instant).astimezone(STOCKHOLM).date()


def end_of_day(day: date) -> datetime:
    """The first instant after `day` in Stockholm, in UTC: "last day" means up to this."""
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=STOCKHOLM)
    return next_midnight.astimezone(UTC)


def format_instant_sv(instant: datetime) -> str:
    local = require_utc(instant).astimezone(STOCKHOLM)
    return f"{local:%Y-%m-%d} kl. {local:%H:%M}"


def format_deadline_sv(deadline: datetime) -> str:
    """A deadline that ends a day (see `end_of_day`) as the officer writes it: that last day."""
    last_day = (require_utc(deadline) - timedelta(microseconds=1)).astimezone(STOCKHOLM).date()
    return last_day.isoformat()
